/**
 * The handshake path of the intake entry, with no environment configured and the notifications module replaced
 * by a recorder: the handshake must be answered without loading it (cold-start budget, no I/O, no config).
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { ENV } from '../../shared/config/env-names';

const REAL_TOKEN = 'Validation: Testing client application reachability for subscription Request-Id: 2f3f9c8b-8a3e-4c6f-9d2b-1c0e5a7b9d11';

function event(input: { method?: string; rawQueryString?: string; queryStringParameters?: Record<string, string> }): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: 'POST /webhook/{integrationId}',
    rawPath: '/webhook/contoso',
    rawQueryString: input.rawQueryString ?? '',
    headers: { 'content-type': 'text/plain; charset=utf-8' },
    pathParameters: { integrationId: 'contoso' },
    ...(input.queryStringParameters === undefined ? {} : { queryStringParameters: input.queryStringParameters }),
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'example.com',
      domainPrefix: 'example',
      http: { method: input.method ?? 'POST', path: '/webhook/contoso', protocol: 'HTTP/1.1', sourceIp: '1.2.3.4', userAgent: 'test' },
      requestId: 'r',
      routeKey: 'POST /webhook/{integrationId}',
      stage: '$default',
      time: '01/May/2024:12:00:00 +0000',
      timeEpoch: 0,
    },
    isBase64Encoded: false,
  };
}

const savedEnv: Record<string, string | undefined> = {};
const notificationsLoaded = jest.fn();
const handleRequest = jest.fn(async () => ({ statusCode: 599, body: 'notifications path' }));

async function loadHandler() {
  jest.resetModules();
  jest.doMock('../../functions/intake/notifications', () => {
    notificationsLoaded();
    return { handleRequest };
  });
  return (await import('../../functions/intake/handler')).handler;
}

beforeEach(() => {
  for (const name of Object.values(ENV)) {
    savedEnv[name] = process.env[name];
    delete process.env[name];
  }
  notificationsLoaded.mockClear();
  handleRequest.mockClear();
});

afterEach(() => {
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  jest.dontMock('../../functions/intake/notifications');
});

describe('intake handler: validation handshake with no environment configured', () => {
  it.each([
    ['a plain token', 'validationToken=abc123', 'abc123'],
    ['a token with HTML characters, URL-encoded', 'validationToken=a%3Cb%3E%26', 'a&lt;b&gt;&amp;'],
    ['"+" as a space (form encoding)', 'validationToken=hello+world', 'hello world'],
    ["Microsoft's token, form-encoded", `validationToken=${new URLSearchParams({ t: REAL_TOKEN }).toString().slice(2)}`, REAL_TOKEN],
    ["Microsoft's token, percent-encoded", `validationToken=${encodeURIComponent(REAL_TOKEN)}`, REAL_TOKEN],
  ])('echoes %s decoded and escaped', async (_label, rawQueryString, expectedBody) => {
    // Prepare
    const handler = await loadHandler();

    // Act
    const response = await handler(event({ rawQueryString }));

    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.headers).toEqual(
      expect.objectContaining({ 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' }),
    );
    expect(response.body).toBe(expectedBody);
  });

  it('finds the token among other query parameters kept in the notificationUrl', async () => {
    // Prepare
    const handler = await loadHandler();

    // Act
    const response = await handler(event({ rawQueryString: `tag=x&validationToken=${encodeURIComponent(REAL_TOKEN)}&z=1` }));

    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.body).toBe(REAL_TOKEN);
  });

  it('falls back to the decoded queryStringParameters when there is no raw query string', async () => {
    // Prepare
    const handler = await loadHandler();

    // Act
    const response = await handler(event({ rawQueryString: '', queryStringParameters: { validationToken: 'a<b>&' } }));

    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.body).toBe('a&lt;b&gt;&amp;');
  });

  it('answers without loading the notifications module', async () => {
    // Prepare
    const handler = await loadHandler();

    // Act
    await handler(event({ rawQueryString: `validationToken=${encodeURIComponent(REAL_TOKEN)}` }));

    // Assess
    expect(notificationsLoaded).not.toHaveBeenCalled();
    expect(handleRequest).not.toHaveBeenCalled();
  });

  it('hands a POST without a validation token to the notifications module', async () => {
    // Prepare
    const handler = await loadHandler();

    // Act
    const response = await handler(event({ rawQueryString: 'tag=x' }));

    // Assess
    expect(notificationsLoaded).toHaveBeenCalledTimes(1);
    expect(handleRequest).toHaveBeenCalledTimes(1);
    expect(response.statusCode).toBe(599);
  });

  it('does not treat a GET carrying a validation token as a handshake', async () => {
    // Prepare
    const handler = await loadHandler();

    // Act
    const response = await handler(event({ method: 'GET', rawQueryString: 'validationToken=abc' }));

    // Assess
    expect(handleRequest).toHaveBeenCalledTimes(1);
    expect(response.statusCode).toBe(599);
  });
});
