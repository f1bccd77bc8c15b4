/**
 * The intake entry with the real notifications module, on the paths that answer before any AWS call:
 * handshake, wrong method, bad integration id, oversized body, unparseable body. No environment is configured,
 * so a request that reached processNotifications would answer 500, not the statuses asserted here.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { handler } from '../../functions/intake/handler';
import { ENV } from '../../shared/config/env-names';
import { INTAKE_DEFAULTS } from '../../shared/config/intake-config';

const REAL_TOKEN = 'Validation: Testing client application reachability for subscription Request-Id: 2f3f9c8b-8a3e-4c6f-9d2b-1c0e5a7b9d11';

interface RequestInput {
  method?: string;
  rawPath?: string;
  pathParameters?: Record<string, string> | undefined;
  rawQueryString?: string;
  body?: string | undefined;
  isBase64Encoded?: boolean;
}

function event(input: RequestInput = {}): APIGatewayProxyEventV2 {
  const rawPath = input.rawPath ?? '/webhook/contoso';
  const pathParameters = 'pathParameters' in input ? input.pathParameters : { integrationId: 'contoso' };
  return {
    version: '2.0',
    routeKey: 'ANY /webhook/{integrationId}',
    rawPath,
    rawQueryString: input.rawQueryString ?? '',
    headers: { 'content-type': 'application/json' },
    ...(pathParameters === undefined ? {} : { pathParameters }),
    ...(input.body === undefined ? {} : { body: input.body }),
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'example.com',
      domainPrefix: 'example',
      http: { method: input.method ?? 'POST', path: rawPath, protocol: 'HTTP/1.1', sourceIp: '1.2.3.4', userAgent: 'test' },
      requestId: 'r',
      routeKey: 'ANY /webhook/{integrationId}',
      stage: '$default',
      time: '01/May/2024:12:00:00 +0000',
      timeEpoch: 0,
    },
    isBase64Encoded: input.isBase64Encoded ?? false,
  };
}

function jsonBody(response: APIGatewayProxyStructuredResultV2): { error?: string } {
  return JSON.parse(response.body ?? 'null') as { error?: string };
}

const savedEnv: Record<string, string | undefined> = {};

beforeEach(() => {
  for (const name of Object.values(ENV)) {
    savedEnv[name] = process.env[name];
    delete process.env[name];
  }
});

afterEach(() => {
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

describe('intake handler: handshake', () => {
  it('answers the handshake with no environment configured', async () => {
    // Prepare
    const request = event({ rawQueryString: `validationToken=${encodeURIComponent(REAL_TOKEN)}` });

    // Act
    const response = await handler(request);

    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.headers?.['content-type']).toBe('text/plain; charset=utf-8');
    expect(response.headers?.['x-content-type-options']).toBe('nosniff');
    expect(response.body).toBe(REAL_TOKEN);
  });

  it('decodes the token as a form query and escapes it', async () => {
    // Prepare
    const request = event({ rawQueryString: 'validationToken=a%3Cb%3E%26+c' });

    // Act
    const response = await handler(request);

    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.body).toBe('a&lt;b&gt;&amp; c');
  });
});

describe('intake handler: method', () => {
  it.each(['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'])('refuses %s with 405 and Allow: POST', async (method) => {
    // Prepare
    const request = event({ method, body: JSON.stringify({ value: [] }) });

    // Act
    const response = await handler(request);

    // Assess
    expect(response.statusCode).toBe(405);
    expect(response.headers?.['allow']).toBe('POST');
    expect(response.headers?.['content-type']).toBe('application/json; charset=utf-8');
    expect(jsonBody(response).error).toContain(method);
  });
});

describe('intake handler: integration id', () => {
  it.each<[string, RequestInput]>([
    ['characters outside the alphabet', { pathParameters: { integrationId: 'bad id!' }, rawPath: '/webhook/bad%20id!' }],
    ['a leading dot', { pathParameters: { integrationId: '.hidden' }, rawPath: '/webhook/.hidden' }],
    ['65 characters', { pathParameters: { integrationId: 'a'.repeat(65) }, rawPath: `/webhook/${'a'.repeat(65)}` }],
    ['a malformed percent escape', { pathParameters: { integrationId: '%E0%A4%A' }, rawPath: '/webhook/%E0%A4%A' }],
    ['an encoded path separator', { pathParameters: undefined, rawPath: '/webhook/a%2Fb' }],
    ['no integration segment', { pathParameters: undefined, rawPath: '/webhook/' }],
    ['another path', { pathParameters: undefined, rawPath: '/hooks/contoso' }],
  ])('answers 404 for %s', async (_label, input) => {
    // Prepare
    const request = event({ ...input, body: JSON.stringify({ value: [] }) });

    // Act
    const response = await handler(request);

    // Assess
    expect(response.statusCode).toBe(404);
    expect(jsonBody(response).error).toMatch(/no such webhook/);
  });

  it('reads the integration id from the raw path when there are no path parameters', async () => {
    // Prepare
    const request = event({ pathParameters: undefined, rawPath: '/webhook/contoso', body: 'not json' });

    // Act
    const response = await handler(request);

    // Assess: past the id check, stopped by the body check
    expect(response.statusCode).toBe(400);
  });
});

describe('intake handler: body size', () => {
  it('answers 413 for a body one byte over 1 MB', async () => {
    // Prepare
    const request = event({ body: ' '.repeat(INTAKE_DEFAULTS.maxBodyBytes + 1) });

    // Act
    const response = await handler(request);

    // Assess
    expect(response.statusCode).toBe(413);
    expect(jsonBody(response).error).toContain(String(INTAKE_DEFAULTS.maxBodyBytes));
  });

  it('counts bytes, not characters', async () => {
    // Prepare: 349,526 three-byte characters are 1,048,578 bytes
    const request = event({ body: '€'.repeat(Math.ceil((INTAKE_DEFAULTS.maxBodyBytes + 1) / 3)) });

    // Act
    const response = await handler(request);

    // Assess
    expect(response.statusCode).toBe(413);
  });

  it('counts the decoded size of a base64 body', async () => {
    // Prepare
    const request = event({ body: Buffer.alloc(INTAKE_DEFAULTS.maxBodyBytes + 1, 0x20).toString('base64'), isBase64Encoded: true });

    // Act
    const response = await handler(request);

    // Assess
    expect(response.statusCode).toBe(413);
  });

  it('lets a body of exactly 1 MB through to the JSON check', async () => {
    // Prepare
    const request = event({ body: ' '.repeat(INTAKE_DEFAULTS.maxBodyBytes) });

    // Act
    const response = await handler(request);

    // Assess
    expect(response.statusCode).toBe(400);
  });
});

describe('intake handler: body parsing', () => {
  it.each<[string, string | undefined, RegExp]>([
    ['an empty body', undefined, /not valid JSON/],
    ['text', 'hello', /not valid JSON/],
    ['truncated JSON', '{"value": [', /not valid JSON/],
    ['null', 'null', /JSON object/],
    ['an array', '[{"subscriptionId":"s"}]', /JSON object/],
    ['a string', '"value"', /JSON object/],
    ['an object without value', '{"items": []}', /value/],
    ['a non-array value', '{"value": {"subscriptionId": "s"}}', /value must be an array/],
    ['a string value', '{"value": "[]"}', /value must be an array/],
  ])('answers 400 for %s', async (_label, body, message) => {
    // Prepare
    const request = event({ body });

    // Act
    const response = await handler(request);

    // Assess
    expect(response.statusCode).toBe(400);
    expect(response.headers?.['content-type']).toBe('application/json; charset=utf-8');
    expect(jsonBody(response).error).toMatch(message);
  });

  it('decodes a base64 body before parsing it', async () => {
    // Prepare
    const request = event({ body: Buffer.from('{"value": 42}').toString('base64'), isBase64Encoded: true });

    // Act
    const response = await handler(request);

    // Assess
    expect(response.statusCode).toBe(400);
    expect(jsonBody(response).error).toMatch(/value must be an array/);
  });

  it('does not echo the body in the error', async () => {
    // Prepare
    const secretLooking = 'clientState-secret-value-1234567890';
    const request = event({ body: `{"value": "${secretLooking}"}` });

    // Act
    const response = await handler(request);

    // Assess
    expect(response.statusCode).toBe(400);
    expect(response.body).not.toContain(secretLooking);
  });
});

describe('intake handler: health', () => {
  const health = (method: string, rawQueryString = '') =>
    ({ ...event({ method, rawPath: '/health', pathParameters: undefined, rawQueryString }), routeKey: 'GET /health' }) as APIGatewayProxyEventV2;

  it('hands GET /health to the health check, which builds the runtime (here missing its configuration)', async () => {
    // Prepare
    const quiet = jest.spyOn(console, 'error').mockImplementation(() => undefined);

    // Act
    const response = await handler(health('GET'));

    // Assess
    quiet.mockRestore();
    expect(response.statusCode).toBe(500);
    expect(jsonBody(response).error).toBe('intake misconfigured; see the function log');
  });

  it('refuses other methods on /health with its own 405, and still answers a handshake there first', async () => {
    // Act
    const put = await handler(health('PUT'));
    const handshake = await handler(health('POST', `validationToken=${encodeURIComponent(REAL_TOKEN)}`));

    // Assess
    expect(put.statusCode).toBe(405);
    expect(put.headers).toEqual(expect.objectContaining({ allow: 'GET, HEAD' }));
    expect(handshake.statusCode).toBe(200);
    expect(handshake.body).toBe(REAL_TOKEN);
  });
});
