/**
 * Requests that carry a secret never follow a redirect, over real loopback sockets: a token endpoint and a Graph
 * that answer 301/302/303/307/308 with a Location on a second server (another origin), which must see nothing.
 * Then the same through the real `graph-relay` process, as an operator meets it: one line, exit code 1.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { GraphClient, GraphRequestError } from '../../shared/graph/graph-client';
import { TokenClient, TokenRequestError, type AppCredentials } from '../../shared/graph/token-client';
import { createValidationTokenVerifier, JwksUnavailableError } from '../../shared/rich/validation-tokens';
import { createTestCertificate } from '../../testkit/graph-fake/test-credentials';
import { runCli } from '../support/cli-process';
import { startTestStack, type TestStack } from '../support/test-stack';

const TENANT = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
const SCOPE = 'https://graph.microsoft.com/.default';
const CLIENT_ID = '3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b';
const CLIENT_SECRET = 'no-redirect-client-secret~0123456789';
const REDIRECTS = [301, 302, 303, 307, 308] as const;

interface Recorded {
  method: string;
  url: string;
  authorization: string | undefined;
  body: string;
}

interface LoopbackServer {
  url: string;
  requests: Recorded[];
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 (a port of its own) that records every request, body included. */
async function startServer(answer: (request: IncomingMessage, response: ServerResponse) => void): Promise<LoopbackServer> {
  const requests: Recorded[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      requests.push({ method: request.method ?? '', url: request.url ?? '', authorization: request.headers.authorization, body: Buffer.concat(chunks).toString('utf8') });
      answer(request, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function tokenAnswer(response: ServerResponse): void {
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ token_type: 'Bearer', expires_in: 3599, access_token: 'graph-access-token-of-the-app' }));
}

/** Where every redirect points: another origin that must never be asked anything. */
let elsewhere: LoopbackServer;
/** The redirect status the origin answers with, set per test. */
let status: number = 307;
/** The token endpoint and Graph on one origin: `redirectTokens` decides whether token requests redirect too. */
let origin: LoopbackServer;
let redirectTokens = true;

beforeAll(async () => {
  elsewhere = await startServer((_request, response) => tokenAnswer(response));
  origin = await startServer((request, response) => {
    if (request.url?.endsWith('/oauth2/v2.0/token') === true && !redirectTokens) return tokenAnswer(response);
    response.writeHead(status, { location: `${elsewhere.url}/collect${request.url ?? ''}`, 'content-type': 'text/plain' });
    response.end('moved');
  });
});

afterAll(async () => {
  await origin?.close();
  await elsewhere?.close();
});

beforeEach(() => {
  origin.requests.length = 0;
  elsewhere.requests.length = 0;
});

function tokenClient(credentials: AppCredentials): TokenClient {
  return new TokenClient({ credentials, config: { loginUrl: origin.url, scope: SCOPE } });
}

async function failure<T>(promise: Promise<unknown>, type: new (...args: never[]) => T): Promise<T> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(type);
  return error as T;
}

describe('the token client refuses redirects', () => {
  it.each(REDIRECTS)('HTTP %i: the client secret never reaches the Location, one attempt, one line naming the URL', async (answered) => {
    // Prepare
    status = answered;
    redirectTokens = true;
    const tokenUrl = `${origin.url}/${TENANT}/oauth2/v2.0/token`;

    // Act
    const error = await failure(tokenClient({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }).getToken(TENANT), TokenRequestError);

    // Assess
    expect(elsewhere.requests).toEqual([]);
    expect(origin.requests).toHaveLength(1);
    expect(new URLSearchParams(origin.requests[0]?.body).get('client_secret')).toBe(CLIENT_SECRET);
    expect(error.kind).toBe('redirected');
    expect(error.status).toBe(answered);
    expect(error.message).toBe(
      `token request for tenant ${TENANT} refused (HTTP ${answered}): ${tokenUrl} redirected to ${elsewhere.url}/collect/${TENANT}/oauth2/v2.0/token; ` +
        "redirects are refused because the request carries the app's client secret; check GRAPH_LOGIN_URL",
    );
    expect(error.message).not.toContain(CLIENT_SECRET);
  });

  it('HTTP 307 with certificate credentials: the client assertion never reaches the Location', async () => {
    // Prepare
    status = 307;
    redirectTokens = true;
    const certificate = createTestCertificate();
    const privateKeyPem = certificate.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

    // Act
    const error = await failure(tokenClient({ clientId: CLIENT_ID, certificate: { certificatePem: certificate.certificatePem, privateKeyPem } }).getToken(TENANT), TokenRequestError);

    // Assess
    expect(elsewhere.requests).toEqual([]);
    expect(origin.requests).toHaveLength(1);
    expect(new URLSearchParams(origin.requests[0]?.body).get('client_assertion')).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(error.kind).toBe('redirected');
    expect(error.message).toContain("redirects are refused because the request carries the app's client assertion");
  });
});

describe('the Graph client refuses redirects', () => {
  it.each(REDIRECTS)('HTTP %i: the access token never reaches the Location, not retried, one line naming the URL', async (answered) => {
    // Prepare
    status = answered;
    redirectTokens = false;
    const graph = new GraphClient({ config: { apiUrl: origin.url }, tokens: tokenClient({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }) });

    // Act
    const error = await failure(graph.request({ method: 'GET', path: '/subscriptions', tenantId: TENANT }), GraphRequestError);

    // Assess
    expect(elsewhere.requests).toEqual([]);
    const graphRequests = origin.requests.filter((request) => request.url.startsWith('/v1.0/'));
    expect(graphRequests).toEqual([expect.objectContaining({ method: 'GET', url: '/v1.0/subscriptions', authorization: 'Bearer graph-access-token-of-the-app' })]);
    expect(error.status).toBe(answered);
    expect(error.code).toBe('redirect-refused');
    expect(error.message).toBe(
      `Graph GET /subscriptions failed (HTTP ${answered} redirect-refused): ${origin.url}/v1.0/subscriptions redirected to ${elsewhere.url}/collect/v1.0/subscriptions; ` +
        'redirects are refused because the request carries an access token; check GRAPH_API_URL',
    );
    expect(error.message).not.toContain('graph-access-token-of-the-app');
  });

  it('a POST (not idempotent) with a body: nothing reaches the Location either', async () => {
    // Prepare
    status = 307;
    redirectTokens = false;
    const graph = new GraphClient({ config: { apiUrl: origin.url }, tokens: tokenClient({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }) });

    // Act
    const error = await failure(graph.request({ method: 'POST', path: '/subscriptions', tenantId: TENANT, body: { resource: 'users' } }), GraphRequestError);

    // Assess
    expect(elsewhere.requests).toEqual([]);
    expect(error.code).toBe('redirect-refused');
  });
});

describe('the JWKS fetch refuses redirects too', () => {
  it('HTTP 302: the key set is not taken from the Location', async () => {
    // Prepare: the verifier fetches the JWKS for any token with a kid
    status = 302;
    const header = Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'some-kid', typ: 'JWT' })).toString('base64url');
    const verifier = createValidationTokenVerifier({ jwksUrl: `${origin.url}/common/discovery/v2.0/keys` });

    // Act
    const error = await failure(verifier.verify([`${header}.e30.c2ln`], { audiences: [CLIENT_ID], tenantIds: [TENANT] }), JwksUnavailableError);

    // Assess
    expect(elsewhere.requests).toEqual([]);
    expect(error.message).toBe(
      `JWKS fetch refused (HTTP 302): ${origin.url}/common/discovery/v2.0/keys redirected to ${elsewhere.url}/collect/common/discovery/v2.0/keys; ` +
        'redirects are refused because the answer is the key set every validation token is checked with',
    );
  });
});

describe('graph-relay, when Graph or the token endpoint redirects', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await startTestStack();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it.each([
    ['the token endpoint', true, /^graph-relay: .*token request for tenant \S+ refused \(HTTP 307\): http:\/\/127\.0\.0\.1:\d+\/\S+\/oauth2\/v2\.0\/token redirected to .*; check GRAPH_LOGIN_URL$/],
    ['Graph', false, /^graph-relay: .*Graph POST \/subscriptions failed \(HTTP 307 redirect-refused\): http:\/\/127\.0\.0\.1:\d+\/v1\.0\/subscriptions redirected to .*; check GRAPH_API_URL$/],
  ])('subscriptions create fails once with one line when %s redirects, and nothing reaches the Location', async (_what, tokens, line) => {
    // Prepare
    status = 307;
    redirectTokens = tokens;
    const tenantId = randomUUID();
    const { integrationId, webhookSecret } = await t.seedIntegration({ connections: [{ connectionId: 'conn-1', tenantId }] });
    await t.putSecret(integrationId, { webhookSecret, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });

    // Act
    const result = await runCli(['--local', 'subscriptions', 'create', integrationId, 'conn-1', '--resource', 'users', '--change-type', 'created'], {
      GRAPH_RELAY_DATA_DIR: t.dataDir,
      GRAPH_API_URL: origin.url,
      GRAPH_LOGIN_URL: origin.url,
    });

    // Assess
    expect(result.code).toBe(1);
    // A progress note, then the error: one line.
    expect(result.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^graph-relay: creating users:created for /), expect.stringMatching(line)]);
    expect(result.stderr).not.toContain(CLIENT_SECRET);
    expect(elsewhere.requests).toEqual([]);
    expect(origin.requests.filter((request) => request.url.endsWith(tokens ? '/oauth2/v2.0/token' : '/v1.0/subscriptions'))).toHaveLength(1);
  });
});
