/**
 * GraphClient with the real TokenClient, both talking to a fake Graph and identity platform behind one fetch
 * function: headers, retries within the deadline, 401 refresh, typed errors, logging, URL safety, stats.
 * Also loadGraphConfig, which decides the base URLs the client talks to.
 */
import { ConfigError } from '../../shared/config/env-parsing';
import { GraphClient, GraphRequestError, GraphThrottledError, GraphUrlError, InvalidGraphResponseError, type GraphClientOptions } from '../../shared/graph/graph-client';
import { GRAPH_DEFAULTS, loadGraphConfig, type Clock, type FetchFn } from '../../shared/graph/graph-config';
import { RateGovernor } from '../../shared/graph/rate-governor';
import { TokenClient } from '../../shared/graph/token-client';

const GRAPH_URL = 'http://127.0.0.1:4010';
const LOGIN_URL = 'http://127.0.0.1:4011';
const TENANT = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
const CLIENT_SECRET = 'test-client-secret-value~0123456789';
const START = Date.UTC(2024, 4, 1, 12, 0, 0);
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface GraphCall {
  method: string;
  url: string;
  headers: Headers;
  body: unknown;
  signal: AbortSignal | null | undefined;
}

type GraphAnswer = (call: GraphCall, index: number) => Response | Promise<Response>;

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

const graphError = (status: number, code: string, message: string, headers: Record<string, string> = {}) =>
  json(status, { error: { code, message, innerError: { 'request-id': 'body-request-id', date: '2024-05-01T12:00:00' } } }, headers);

/** Graph and the identity platform behind one fetch; tokens are token-1, token-2, ... */
function fakeNetwork(answer: GraphAnswer) {
  const calls: GraphCall[] = [];
  let issued = 0;
  const fetch: FetchFn = async (url, init) => {
    if (url.startsWith(`${LOGIN_URL}/`)) {
      issued += 1;
      return json(200, { token_type: 'Bearer', expires_in: 3599, access_token: `token-${issued}` });
    }
    const call = {
      method: init.method ?? 'GET',
      url,
      headers: new Headers(init.headers),
      body: typeof init.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined,
      signal: init.signal,
    };
    calls.push(call);
    return answer(call, calls.length - 1);
  };
  return { fetch, calls };
}

function fakeClock(start = START) {
  const waits: number[] = [];
  let now = start;
  const clock: Clock = {
    now: () => now,
    sleep: async (ms) => {
      waits.push(ms);
      now += ms;
    },
  };
  return { clock, waits };
}

function graphClient(fetch: FetchFn, options: Partial<GraphClientOptions> & { clock?: Clock } = {}) {
  const clock = options.clock ?? fakeClock().clock;
  const tokens = new TokenClient({
    credentials: { clientId: '3f6a1c2e-0d4b-4a7e-9b1a-5c2d7e8f9a01', clientSecret: CLIENT_SECRET },
    config: { loginUrl: LOGIN_URL, scope: `${GRAPH_URL}/.default` },
    fetch,
    clock,
  });
  return new GraphClient({ config: { apiUrl: GRAPH_URL }, tokens, fetch, clock, random: () => 0.5, ...options });
}

async function rejection<T extends Error>(promise: Promise<unknown>, type: new (...args: never[]) => T): Promise<T> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof type) return error;
    throw error;
  }
  throw new Error(`expected ${type.name}`);
}

describe('GraphClient: requests', () => {
  it('sends the tenant token, a client-request-id and JSON to {base}/v1.0{path} and returns the parsed body', async () => {
    // Prepare
    const network = fakeNetwork(() => json(201, { id: 'sub-1' }));
    const graph = graphClient(network.fetch);

    // Act
    const result = await graph.request({ method: 'POST', path: '/subscriptions', body: { resource: 'users' }, tenantId: TENANT });

    // Assess
    expect(result).toEqual({ id: 'sub-1' });
    const call = network.calls[0]!;
    expect(call.method).toBe('POST');
    expect(call.url).toBe(`${GRAPH_URL}/v1.0/subscriptions`);
    expect(call.headers.get('authorization')).toBe('Bearer token-1');
    expect(call.headers.get('client-request-id')).toMatch(GUID);
    expect(call.headers.get('content-type')).toBe('application/json');
    expect(call.body).toEqual({ resource: 'users' });
  });

  it('resolves to undefined for 204 No Content', async () => {
    // Prepare
    const network = fakeNetwork(() => new Response(null, { status: 204 }));
    const graph = graphClient(network.fetch);

    // Act
    const result = await graph.request({ method: 'DELETE', path: '/subscriptions/s1', tenantId: TENANT });

    // Assess
    expect(result).toBeUndefined();
    expect(network.calls[0]!.headers.get('content-type')).toBeNull();
  });

  it('gives every request a timeout signal', async () => {
    // Prepare
    const network = fakeNetwork(() => json(200, {}));
    const graph = graphClient(network.fetch);

    // Act
    await graph.request({ method: 'GET', path: '/subscriptions', tenantId: TENANT });

    // Assess
    expect(network.calls[0]!.signal).toBeInstanceOf(AbortSignal);
  });

  it('gives each request its own client-request-id', async () => {
    // Prepare
    const network = fakeNetwork(() => json(200, {}));
    const graph = graphClient(network.fetch);

    // Act
    await graph.request({ method: 'GET', path: '/subscriptions', tenantId: TENANT });
    await graph.request({ method: 'GET', path: '/subscriptions', tenantId: TENANT });

    // Assess
    const [first, second] = network.calls.map((c) => c.headers.get('client-request-id'));
    expect(first).not.toBe(second);
  });

  it('refuses a 2xx body that is not JSON', async () => {
    // Prepare
    const network = fakeNetwork(() => new Response('<html>proxy</html>', { status: 200 }));
    const graph = graphClient(network.fetch);

    // Act
    const error = await rejection(graph.request({ method: 'GET', path: '/subscriptions', tenantId: TENANT }), InvalidGraphResponseError);

    // Assess
    expect(error.message).toContain('not JSON');
  });

  it('follows an absolute URL on the configured Graph base (a nextLink)', async () => {
    // Prepare
    const network = fakeNetwork(() => json(200, { value: [] }));
    const graph = graphClient(network.fetch);

    // Act
    await graph.request({ method: 'GET', path: `${GRAPH_URL}/v1.0/subscriptions?$skiptoken=abc`, tenantId: TENANT });

    // Assess
    expect(network.calls[0]!.url).toBe(`${GRAPH_URL}/v1.0/subscriptions?$skiptoken=abc`);
  });

  it.each([
    ['another host', 'https://evil.example/v1.0/subscriptions'],
    ['another port', 'http://127.0.0.1:4999/v1.0/subscriptions'],
    ['another API version', `${GRAPH_URL}/beta/subscriptions`],
    ['a path that climbs out of the base', `${GRAPH_URL}/v1.0/../beta/subscriptions`],
    ['embedded credentials', 'http://user:pass@127.0.0.1:4010/v1.0/subscriptions'],
    ['a relative path without a leading slash', 'subscriptions'],
  ])('never sends the token to %s', async (_label, path) => {
    // Prepare
    const network = fakeNetwork(() => json(200, {}));
    const graph = graphClient(network.fetch);

    // Act
    const error = await rejection(graph.request({ method: 'GET', path, tenantId: TENANT }), GraphUrlError);

    // Assess
    expect(error).toBeInstanceOf(GraphUrlError);
    expect(network.calls).toHaveLength(0);
  });
});

describe('GraphClient: errors', () => {
  it("parses Graph's error body into a typed error and logs request-id and client-request-id", async () => {
    // Prepare
    const logged: { message: string; fields: Record<string, unknown> }[] = [];
    const network = fakeNetwork(() => graphError(404, 'ResourceNotFound', 'The object was not found.', { 'request-id': 'header-request-id' }));
    const graph = graphClient(network.fetch, { logger: { warn: (message, fields) => logged.push({ message, fields }) } });

    // Act
    const error = await rejection(graph.request({ method: 'PATCH', path: '/subscriptions/s1', body: {}, tenantId: TENANT }), GraphRequestError);

    // Assess
    expect(error).toMatchObject({
      status: 404,
      code: 'ResourceNotFound',
      requestId: 'header-request-id',
      clientRequestId: network.calls[0]!.headers.get('client-request-id'),
      date: '2024-05-01T12:00:00',
      method: 'PATCH',
      path: '/subscriptions/s1',
      tenantId: TENANT,
    });
    expect(error.message).toBe('Graph PATCH /subscriptions/s1 failed (HTTP 404 ResourceNotFound): The object was not found.');
    expect(logged).toHaveLength(1);
    expect(logged[0]!.fields).toMatchObject({ requestId: 'header-request-id', clientRequestId: error.clientRequestId, status: 404, code: 'ResourceNotFound' });
    expect(network.calls).toHaveLength(1);
  });

  it('takes the request-id from the error body when the header is missing', async () => {
    // Prepare
    const network = fakeNetwork(() => graphError(400, 'InvalidRequest', 'Subscription validation request failed.'));
    const graph = graphClient(network.fetch);

    // Act
    const error = await rejection(graph.request({ method: 'POST', path: '/subscriptions', body: {}, tenantId: TENANT }), GraphRequestError);

    // Assess
    expect(error.requestId).toBe('body-request-id');
  });

  it('reports code "unknown" for an error body that is not Graph-shaped', async () => {
    // Prepare
    const network = fakeNetwork(() => new Response('Bad Gateway', { status: 400 }));
    const graph = graphClient(network.fetch);

    // Act
    const error = await rejection(graph.request({ method: 'GET', path: '/subscriptions', tenantId: TENANT }), GraphRequestError);

    // Assess
    expect(error).toMatchObject({ status: 400, code: 'unknown' });
  });

  it('never puts the token or the client secret in an error or a log line', async () => {
    // Prepare
    const logged: unknown[] = [];
    const network = fakeNetwork(() => graphError(403, 'Forbidden', 'Insufficient privileges.'));
    const graph = graphClient(network.fetch, { logger: { warn: (message, fields) => logged.push({ message, fields }) } });

    // Act
    const error = await rejection(graph.request({ method: 'GET', path: '/subscriptions', tenantId: TENANT }), GraphRequestError);

    // Assess
    const everything = JSON.stringify([error, error.message, error.stack, logged]);
    expect(everything).not.toContain('token-1');
    expect(everything).not.toContain(CLIENT_SECRET);
    expect(logged).toHaveLength(1);
  });
});

describe('GraphClient: 401', () => {
  it('gets a fresh token once and retries with it', async () => {
    // Prepare
    const network = fakeNetwork((_call, index) => (index === 0 ? graphError(401, 'InvalidAuthenticationToken', 'Access token has expired.') : json(200, { ok: true })));
    const graph = graphClient(network.fetch);

    // Act
    const result = await graph.request({ method: 'GET', path: '/subscriptions', tenantId: TENANT });

    // Assess
    expect(result).toEqual({ ok: true });
    expect(network.calls.map((c) => c.headers.get('authorization'))).toEqual(['Bearer token-1', 'Bearer token-2']);
    expect(graph.stats().tokenRequests).toBe(2);
  });

  it('gives up on a second 401', async () => {
    // Prepare
    const network = fakeNetwork(() => graphError(401, 'InvalidAuthenticationToken', 'Access token validation failure.'));
    const graph = graphClient(network.fetch);

    // Act
    const error = await rejection(graph.request({ method: 'GET', path: '/subscriptions', tenantId: TENANT }), GraphRequestError);

    // Assess
    expect(error.status).toBe(401);
    expect(network.calls).toHaveLength(2);
  });
});

describe('GraphClient: 429', () => {
  it('waits the Retry-After seconds, then retries', async () => {
    // Prepare
    const time = fakeClock();
    const network = fakeNetwork((_call, index) => (index === 0 ? graphError(429, 'TooManyRequests', 'Throttled.', { 'retry-after': '3' }) : json(200, { ok: true })));
    const graph = graphClient(network.fetch, { clock: time.clock });

    // Act
    const result = await graph.request({ method: 'POST', path: '/subscriptions', body: {}, tenantId: TENANT });

    // Assess
    expect(result).toEqual({ ok: true });
    expect(time.waits).toEqual([3000]);
    expect(network.calls).toHaveLength(2);
  });

  it.each([
    ['2.128', 2128],
    ['0.032', 32],
    ['1.5', 1500],
  ])('waits fractional Retry-After seconds (%s, as Graph sends them), never reading them as a date', async (header, waitMs) => {
    // Prepare
    const time = fakeClock();
    const network = fakeNetwork((_call, index) => (index === 0 ? graphError(429, 'TooManyRequests', 'Throttled.', { 'retry-after': header }) : json(200, {})));
    const graph = graphClient(network.fetch, { clock: time.clock });

    // Act
    await graph.request({ method: 'PATCH', path: '/subscriptions/x', body: {}, tenantId: TENANT });

    // Assess
    expect(time.waits).toEqual([waitMs]);
  });

  it('reads Retry-After as an HTTP-date', async () => {
    // Prepare
    const time = fakeClock();
    const retryAt = new Date(START + 5_000).toUTCString();
    const network = fakeNetwork((_call, index) => (index === 0 ? graphError(429, 'TooManyRequests', 'Throttled.', { 'retry-after': retryAt }) : json(200, {})));
    const graph = graphClient(network.fetch, { clock: time.clock });

    // Act
    await graph.request({ method: 'GET', path: '/subscriptions', tenantId: TENANT });

    // Assess
    expect(time.waits).toEqual([5000]);
  });

  it('throws GraphThrottledError with retryAfterMs when the wait would pass the deadline', async () => {
    // Prepare
    const time = fakeClock();
    const network = fakeNetwork(() => graphError(429, 'TooManyRequests', 'Throttled.', { 'retry-after': '20' }));
    const graph = graphClient(network.fetch, { clock: time.clock });

    // Act
    const error = await rejection(graph.request({ method: 'PATCH', path: '/subscriptions/s1', body: {}, tenantId: TENANT, deadline: START + 10_000 }), GraphThrottledError);

    // Assess
    expect(error).toBeInstanceOf(GraphRequestError);
    expect(error).toMatchObject({ status: 429, code: 'TooManyRequests', retryAfterMs: 20_000 });
    expect(time.waits).toEqual([]);
    expect(network.calls).toHaveLength(1);
  });

  it('waits when the Retry-After fits within the deadline', async () => {
    // Prepare
    const time = fakeClock();
    const network = fakeNetwork((_call, index) => (index === 0 ? graphError(429, 'TooManyRequests', 'Throttled.', { 'retry-after': '10' }) : json(200, {})));
    const graph = graphClient(network.fetch, { clock: time.clock });

    // Act
    await graph.request({ method: 'GET', path: '/subscriptions', tenantId: TENANT, deadline: START + 10_000 });

    // Assess
    expect(time.waits).toEqual([10_000]);
  });

  it('without a deadline, does not wait longer than the configured cap', async () => {
    // Prepare
    const time = fakeClock();
    const network = fakeNetwork(() => graphError(429, 'TooManyRequests', 'Throttled.', { 'retry-after': String(GRAPH_DEFAULTS.maxRetryAfterMs / 1000 + 1) }));
    const graph = graphClient(network.fetch, { clock: time.clock });

    // Act
    const error = await rejection(graph.request({ method: 'GET', path: '/subscriptions', tenantId: TENANT }), GraphThrottledError);

    // Assess
    expect(error.retryAfterMs).toBe(GRAPH_DEFAULTS.maxRetryAfterMs + 1000);
    expect(time.waits).toEqual([]);
  });

  it('backs off when 429 has no Retry-After, and stops after the configured attempts', async () => {
    // Prepare
    const time = fakeClock();
    const network = fakeNetwork(() => graphError(429, 'TooManyRequests', 'Throttled.'));
    const graph = graphClient(network.fetch, { clock: time.clock, retry: { maxAttempts: 3, backoffBaseMs: 1000, backoffMaxMs: 60_000 } });

    // Act
    const error = await rejection(graph.request({ method: 'GET', path: '/subscriptions', tenantId: TENANT }), GraphThrottledError);

    // Assess: random() = 0.5 → three quarters of each step (1000, 2000)
    expect(network.calls).toHaveLength(3);
    expect(time.waits).toEqual([750, 1500]);
    expect(error.retryAfterMs).toBe(3000);
  });

  it("holds back the tenant's next requests until Retry-After has passed, without sending them", async () => {
    // Prepare: the first PATCH is throttled for 20 s past its deadline
    const OTHER_TENANT = '0f0c8d2e-6f4b-4c1e-9d1a-3f5b8f6a0c11';
    const time = fakeClock();
    const network = fakeNetwork((_call, index) => (index === 0 ? graphError(429, 'TooManyRequests', 'Throttled.', { 'retry-after': '20' }) : json(200, {})));
    const graph = graphClient(network.fetch, { clock: time.clock });
    await rejection(graph.request({ method: 'PATCH', path: '/subscriptions/s1', body: {}, tenantId: TENANT, deadline: START + 10_000 }), GraphThrottledError);

    // Act
    const heldBack = await rejection(
      graph.request({ method: 'PATCH', path: '/subscriptions/s2', body: {}, tenantId: TENANT.toUpperCase(), deadline: START + 10_000 }),
      GraphThrottledError,
    );
    await graph.request({ method: 'PATCH', path: '/subscriptions/s3', body: {}, tenantId: OTHER_TENANT, deadline: START + 10_000 });
    await graph.request({ method: 'PATCH', path: '/subscriptions/s4', body: {}, tenantId: TENANT });

    // Assess: s2 never reached Graph; another tenant was not held; s4 waited out the 20 s, then went through
    expect(heldBack).toMatchObject({ status: undefined, code: 'held-back', retryAfterMs: 20_000 });
    expect(network.calls.map((call) => new URL(call.url).pathname)).toEqual(['/v1.0/subscriptions/s1', '/v1.0/subscriptions/s3', '/v1.0/subscriptions/s4']);
    expect(time.waits).toEqual([20_000]);
  });
});

describe('GraphClient: with a rate governor', () => {
  const WINDOW = 20_000;
  const oneWritePerWindow = (clock: Clock) =>
    new RateGovernor({ limits: [{ name: 'writes', scope: 'app', kinds: ['subscription-write'], requests: 1, windowMs: WINDOW }], clock });

  it('takes a token for every request, a retry included', async () => {
    // Prepare
    const time = fakeClock();
    const network = fakeNetwork((_call, index) => (index === 0 ? graphError(503, 'serviceNotAvailable', 'Busy.') : json(200, {})));
    const graph = graphClient(network.fetch, { clock: time.clock, governor: oneWritePerWindow(time.clock), retry: { backoffBaseMs: 1000 } });

    // Act
    await graph.request({ method: 'PATCH', path: '/subscriptions/s1', body: {}, tenantId: TENANT });

    // Assess: the backoff, then the rest of the window the first attempt's token is out
    expect(network.calls).toHaveLength(2);
    expect(time.waits).toEqual([750, WINDOW - 750]);
  });

  it('does not send a request the governor has no token for before the deadline: held-back, like a 429', async () => {
    // Prepare
    const time = fakeClock();
    const network = fakeNetwork(() => json(200, {}));
    const graph = graphClient(network.fetch, { clock: time.clock, governor: oneWritePerWindow(time.clock) });
    await graph.request({ method: 'PATCH', path: '/subscriptions/s1', body: {}, tenantId: TENANT });

    // Act
    const error = await rejection(graph.request({ method: 'PATCH', path: '/subscriptions/s2', body: {}, tenantId: TENANT, deadline: START + 5_000 }), GraphThrottledError);

    // Assess
    expect(error).toMatchObject({ status: undefined, code: 'held-back', retryAfterMs: WINDOW });
    expect(network.calls).toHaveLength(1);
  });

  it('paces requests of one app across its clients when they share the governor', async () => {
    // Prepare
    const OTHER_TENANT = '0f0c8d2e-6f4b-4c1e-9d1a-3f5b8f6a0c11';
    const time = fakeClock();
    const network = fakeNetwork(() => json(200, {}));
    const governor = oneWritePerWindow(time.clock);
    const renewal = graphClient(network.fetch, { clock: time.clock, governor });
    const reconcile = graphClient(network.fetch, { clock: time.clock, governor });
    await renewal.request({ method: 'PATCH', path: '/subscriptions/s1', body: {}, tenantId: TENANT });

    // Act
    await reconcile.request({ method: 'POST', path: '/subscriptions', body: {}, tenantId: OTHER_TENANT });
    await reconcile.request({ method: 'GET', path: '/users/delta', tenantId: OTHER_TENANT });

    // Assess: the write waited for the app's token; a read is not under that limit
    expect(time.waits).toEqual([WINDOW]);
    expect(network.calls).toHaveLength(3);
  });

  it("teaches the governor from a 429: the tenant's bucket is lowered", async () => {
    // Prepare
    const time = fakeClock();
    const network = fakeNetwork((_call, index) => (index === 0 ? graphError(429, 'TooManyRequests', 'Throttled.', { 'retry-after': '2' }) : json(200, {})));
    const governor = new RateGovernor({ limits: [{ name: 'writes', scope: 'tenant', kinds: ['subscription-write'], requests: 10, windowMs: WINDOW }], clock: time.clock });
    const graph = graphClient(network.fetch, { clock: time.clock, governor });

    // Act
    await graph.request({ method: 'PATCH', path: '/subscriptions/s1', body: {}, tenantId: TENANT });

    // Assess
    expect(time.waits).toEqual([2_000]);
    expect(graph.governorStats()).toMatchObject({ throttled: 1, lowered: { [`writes|${TENANT}`]: { size: 5, ceiling: 10 } } });
  });
});

describe('GraphClient: 5xx, timeouts and network errors', () => {
  it('retries an idempotent request on 5xx with growing, capped, jittered waits', async () => {
    // Prepare
    const time = fakeClock();
    const network = fakeNetwork(() => graphError(503, 'serviceNotAvailable', 'Service unavailable.'));
    const graph = graphClient(network.fetch, { clock: time.clock, retry: { maxAttempts: 4, backoffBaseMs: 1000, backoffMaxMs: 3000 } });

    // Act
    const error = await rejection(graph.request({ method: 'GET', path: '/subscriptions', tenantId: TENANT }), GraphRequestError);

    // Assess
    expect(error.status).toBe(503);
    expect(network.calls).toHaveLength(4);
    expect(time.waits).toEqual([750, 1500, 2250]);
  });

  it('succeeds when a retry after a 5xx succeeds', async () => {
    // Prepare
    const network = fakeNetwork((_call, index) => (index === 0 ? graphError(502, 'BadGateway', 'Bad gateway.') : json(200, { ok: true })));
    const graph = graphClient(network.fetch);

    // Act
    const result = await graph.request({ method: 'PATCH', path: '/subscriptions/s1', body: {}, tenantId: TENANT });

    // Assess
    expect(result).toEqual({ ok: true });
  });

  it('does not repeat a POST after a 5xx (it may have been carried out)', async () => {
    // Prepare
    const network = fakeNetwork(() => graphError(500, 'InternalServerError', 'Oops.'));
    const graph = graphClient(network.fetch);

    // Act
    const error = await rejection(graph.request({ method: 'POST', path: '/subscriptions', body: {}, tenantId: TENANT }), GraphRequestError);

    // Assess
    expect(error.status).toBe(500);
    expect(network.calls).toHaveLength(1);
  });

  it('repeats a POST marked idempotent', async () => {
    // Prepare
    const network = fakeNetwork((_call, index) => (index === 0 ? graphError(503, 'serviceNotAvailable', 'Busy.') : new Response(null, { status: 204 })));
    const graph = graphClient(network.fetch);

    // Act
    await graph.request({ method: 'POST', path: '/subscriptions/s1/reauthorize', tenantId: TENANT, idempotent: true });

    // Assess
    expect(network.calls).toHaveLength(2);
  });

  it('does not start a backoff wait that would pass the deadline', async () => {
    // Prepare
    const time = fakeClock();
    const network = fakeNetwork(() => graphError(503, 'serviceNotAvailable', 'Busy.'));
    const graph = graphClient(network.fetch, { clock: time.clock, retry: { backoffBaseMs: 1000 } });

    // Act
    const error = await rejection(graph.request({ method: 'GET', path: '/subscriptions', tenantId: TENANT, deadline: START + 500 }), GraphRequestError);

    // Assess
    expect(error.status).toBe(503);
    expect(time.waits).toEqual([]);
    expect(network.calls).toHaveLength(1);
  });

  it('retries a network error on an idempotent request', async () => {
    // Prepare
    const network = fakeNetwork((_call, index) => {
      if (index === 0) throw new TypeError('fetch failed');
      return json(200, { ok: true });
    });
    const graph = graphClient(network.fetch);

    // Act
    const result = await graph.request({ method: 'GET', path: '/subscriptions', tenantId: TENANT });

    // Assess
    expect(result).toEqual({ ok: true });
    expect(graph.stats().requests).toEqual({ 'GET network-error': 1, 'GET 200': 1 });
  });

  it('names the Graph URL and the variable that sets it when the network fails', async () => {
    // Prepare: nothing listens at the Graph URL
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4010'), { code: 'ECONNREFUSED' });
    const network = fakeNetwork(() => {
      throw new TypeError('fetch failed', { cause: refused });
    });
    const graph = graphClient(network.fetch);

    // Act
    const thrown = await graph.request({ method: 'POST', path: '/subscriptions', tenantId: TENANT, body: {} }).catch((error: unknown) => error);

    // Assess
    expect(thrown).toBeInstanceOf(GraphRequestError);
    expect((thrown as GraphRequestError).message).toBe(
      `Graph POST /subscriptions failed (network-error): network error (ECONNREFUSED) reaching ${GRAPH_URL}; check the network, or GRAPH_API_URL if that is not the Graph URL to use`,
    );
  });

  it('reports a request that never answers as code "timeout"', async () => {
    // Prepare
    const network = fakeNetwork(
      (call) =>
        new Promise<Response>((_resolve, reject) => {
          call.signal?.addEventListener('abort', () => reject(call.signal?.reason));
        }),
    );
    const graph = graphClient(network.fetch);

    // Act
    const error = await rejection(graph.request({ method: 'POST', path: '/subscriptions', body: {}, tenantId: TENANT, timeoutMs: 20 }), GraphRequestError);

    // Assess
    expect(error).toMatchObject({ status: undefined, code: 'timeout' });
    expect(network.calls).toHaveLength(1);
  });
});

describe('GraphClient: stats', () => {
  it('counts requests by method and status, and token requests', async () => {
    // Prepare
    const network = fakeNetwork((call) => (call.method === 'DELETE' ? graphError(404, 'ResourceNotFound', 'Gone.') : json(200, {})));
    const graph = graphClient(network.fetch);

    // Act
    await graph.request({ method: 'GET', path: '/subscriptions', tenantId: TENANT });
    await graph.request({ method: 'PATCH', path: '/subscriptions/s1', body: {}, tenantId: TENANT });
    await graph.request({ method: 'PATCH', path: '/subscriptions/s2', body: {}, tenantId: TENANT });
    await rejection(graph.request({ method: 'DELETE', path: '/subscriptions/s3', tenantId: TENANT }), GraphRequestError);

    // Assess
    expect(graph.stats()).toEqual({ requests: { 'GET 200': 1, 'PATCH 200': 2, 'DELETE 404': 1 }, tokenRequests: 1 });
  });
});

describe('loadGraphConfig', () => {
  it('defaults to the public Graph and login endpoints', () => {
    // Prepare
    const env = {};

    // Act
    const config = loadGraphConfig(env);

    // Assess
    expect(config).toEqual({
      apiUrl: 'https://graph.microsoft.com',
      loginUrl: 'https://login.microsoftonline.com',
      scope: 'https://graph.microsoft.com/.default',
    });
  });

  it('accepts a local fake over http on the loopback interface and drops trailing slashes, asking for the public Graph scope', () => {
    // Prepare
    const env = { GRAPH_API_URL: 'http://127.0.0.1:4010/', GRAPH_LOGIN_URL: 'http://localhost:4011//' };

    // Act
    const config = loadGraphConfig(env);

    // Assess
    expect(config).toEqual({ apiUrl: 'http://127.0.0.1:4010', loginUrl: 'http://localhost:4011', scope: 'https://graph.microsoft.com/.default' });
  });

  it('treats a blank variable as not set', () => {
    // Prepare
    const env = { GRAPH_API_URL: '  ', GRAPH_LOGIN_URL: '' };

    // Act
    const config = loadGraphConfig(env);

    // Assess
    expect(config.apiUrl).toBe('https://graph.microsoft.com');
    expect(config.loginUrl).toBe('https://login.microsoftonline.com');
  });

  it.each([
    ['plain http off the loopback interface', { GRAPH_LOGIN_URL: 'http://login.example.test' }, 'GRAPH_LOGIN_URL: must use https'],
    ['a version segment', { GRAPH_API_URL: 'https://graph.microsoft.com/v1.0' }, 'GRAPH_API_URL: must be the Graph root without a version segment'],
    ['something that is not a URL', { GRAPH_API_URL: 'graph.microsoft.com' }, 'GRAPH_API_URL: must be an absolute URL'],
    ['a query string', { GRAPH_API_URL: 'https://graph.microsoft.com?x=1' }, 'GRAPH_API_URL: must not contain a query'],
    ['credentials', { GRAPH_LOGIN_URL: 'https://user:pw@login.microsoftonline.com' }, 'GRAPH_LOGIN_URL: must not contain credentials'],
  ])('refuses %s, naming the variable', (_label, env, expected) => {
    // Prepare
    let thrown: unknown;

    // Act
    try {
      loadGraphConfig(env);
    } catch (error) {
      thrown = error;
    }

    // Assess
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as Error).message).toContain(expected);
  });
});
