/**
 * The origin check (shared/intake/origin-check.ts) and its place in the intake entry: behind the firewall, a request
 * without CloudFront's header is refused before anything, handshake included; without a firewall nothing changes.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { checkOrigin, constantTimeEqual, ORIGIN_HEADER, ORIGIN_VERIFY_ENV } from '../../shared/intake/origin-check';

const EXPECTED = 'k3yFromTheGeneratedSecret0123456789abcdefABCDEF';

describe('checkOrigin', () => {
  it.each<[string, Record<string, string> | undefined, string | undefined, boolean]>([
    ['no firewall: anything', undefined, undefined, true],
    ['the expected header', { [ORIGIN_HEADER]: EXPECTED }, EXPECTED, true],
    ['no headers at all', undefined, EXPECTED, false],
    ['no such header', { 'content-type': 'application/json' }, EXPECTED, false],
    ['a wrong value of the same length', { [ORIGIN_HEADER]: `${EXPECTED.slice(0, -1)}x` }, EXPECTED, false],
    ['a prefix of the value', { [ORIGIN_HEADER]: EXPECTED.slice(0, 10) }, EXPECTED, false],
    ['the value and more', { [ORIGIN_HEADER]: `${EXPECTED}x` }, EXPECTED, false],
    ['an empty header', { [ORIGIN_HEADER]: '' }, EXPECTED, false],
    ['an empty header against an empty expected value (misconfigured)', { [ORIGIN_HEADER]: '' }, '', false],
  ])('%s', (_case, headers, expected, ok) => {
    // Act
    const result = checkOrigin(headers, expected);

    // Assess
    expect(result.ok).toBe(ok);
    if (!result.ok) expect(result.statusCode).toBe(403);
  });
});

describe('constantTimeEqual', () => {
  it.each([
    ['abc', 'abc', true],
    ['abd', 'abc', false],
    ['ab', 'abc', false],
    ['abcd', 'abc', false],
    ['\u0000bc', 'abc', false],
  ])('%j against %j is %p', (presented, expected, equal) => {
    expect(constantTimeEqual(presented, expected)).toBe(equal);
  });
});

describe('intake entry behind the firewall', () => {
  const handleRequest = jest.fn(async () => ({ statusCode: 202, body: 'notifications path' }));
  let saved: string | undefined;

  function event(headers: Record<string, string>, rawQueryString = ''): APIGatewayProxyEventV2 {
    return {
      version: '2.0',
      routeKey: 'ANY /webhook/{integrationId}',
      rawPath: '/webhook/contoso',
      rawQueryString,
      headers,
      pathParameters: { integrationId: 'contoso' },
      requestContext: {
        accountId: '123456789012',
        apiId: 'api',
        domainName: 'example.com',
        domainPrefix: 'example',
        http: { method: 'POST', path: '/webhook/contoso', protocol: 'HTTP/1.1', sourceIp: '1.2.3.4', userAgent: 'test' },
        requestId: 'r',
        routeKey: 'ANY /webhook/{integrationId}',
        stage: '$default',
        time: '01/May/2024:12:00:00 +0000',
        timeEpoch: 0,
      },
      isBase64Encoded: false,
    };
  }

  /** The entry reads the expected value once, at import, as Lambda loads it. */
  async function loadHandler(expected: string | undefined) {
    if (expected === undefined) delete process.env[ORIGIN_VERIFY_ENV];
    else process.env[ORIGIN_VERIFY_ENV] = expected;
    jest.resetModules();
    jest.doMock('../../functions/intake/notifications', () => ({ handleRequest }));
    return (await import('../../functions/intake/handler')).handler;
  }

  beforeEach(() => {
    saved = process.env[ORIGIN_VERIFY_ENV];
    handleRequest.mockClear();
  });

  afterEach(() => {
    if (saved === undefined) delete process.env[ORIGIN_VERIFY_ENV];
    else process.env[ORIGIN_VERIFY_ENV] = saved;
    jest.dontMock('../../functions/intake/notifications');
  });

  it('answers Graph\'s handshake that came through CloudFront, echoing the token', async () => {
    // Prepare
    const handler = await loadHandler(EXPECTED);

    // Act
    const response = await handler(event({ [ORIGIN_HEADER]: EXPECTED }, 'validationToken=abc123'));

    // Assess
    expect(response).toMatchObject({ statusCode: 200, body: 'abc123' });
  });

  it('refuses a handshake sent straight to the execute-api URL, before anything else', async () => {
    // Prepare
    const handler = await loadHandler(EXPECTED);

    // Act
    const response = await handler(event({}, 'validationToken=abc123'));

    // Assess
    expect(response.statusCode).toBe(403);
    expect(JSON.parse(String(response.body))).toEqual({ error: expect.stringContaining('WebhookBaseUrl') });
    expect(handleRequest).not.toHaveBeenCalled();
  });

  it('refuses a notification with a wrong header without loading the notification path', async () => {
    // Prepare
    const handler = await loadHandler(EXPECTED);

    // Act
    const response = await handler(event({ [ORIGIN_HEADER]: 'guess' }));

    // Assess
    expect(response.statusCode).toBe(403);
    expect(handleRequest).not.toHaveBeenCalled();
  });

  it('passes a notification that came through CloudFront to the notification path', async () => {
    // Prepare
    const handler = await loadHandler(EXPECTED);

    // Act
    const response = await handler(event({ [ORIGIN_HEADER]: EXPECTED }));

    // Assess
    expect(response.statusCode).toBe(202);
    expect(handleRequest).toHaveBeenCalledTimes(1);
  });

  it('checks nothing when the stage has no firewall', async () => {
    // Prepare
    const handler = await loadHandler(undefined);

    // Act
    const response = await handler(event({}));

    // Assess
    expect(response.statusCode).toBe(202);
    expect(handleRequest).toHaveBeenCalledTimes(1);
  });
});
