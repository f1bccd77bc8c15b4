/**
 * What the intake writes to its log, through the real notifications module and a real Powertools logger whose
 * output is captured: every line carries the request's correlation id, and no line carries a webhook secret, a
 * clientState, a validation token, encrypted content or key material, whatever the request.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { correlationIdOf, handleRequestWith } from '../../functions/intake/notifications';
import type { NotificationRuntime } from '../../functions/intake/runtime';
import { RefusalTally } from '../../shared/intake/refusal-tally';
import { createSelfSignedCertificate, type SelfSignedCertificate } from '../../cli/self-signed-certificate';
import type { ChangeNotification } from '../../shared/graph/change-notification';
import type { IntakeOutcome } from '../../shared/intake/process-notifications';
import { createValidationTokenVerifier } from '../../shared/rich/validation-tokens';
import { encryptionKeysFrom } from '../../shared/secrets/encryption-keys';
import {
  changeNotification,
  FakeSecrets,
  fakePorts,
  FORGED_CLIENT_STATE,
  INTEGRATION_ID,
  deferred,
  lifecycleNotification,
  routingSnapshot,
  SECRET_CURRENT,
  SECRET_PREVIOUS,
  TENANT_A,
} from '../support/fakes';
import { startFakeJwks, v2Claims, type FakeJwks } from '../../testkit/jwks';
import { encryptContent } from '../../testkit/rich-content';

const APP_ID = '3f6a1c2e-0d4b-4a7e-9b1a-5c2d7e8f9a01';
const GRAPH_REQUEST_ID = '5e0c2b7a-41d3-4f0e-9a6b-8c1d2e3f4a5b';
const GATEWAY_REQUEST_ID = 'Ab1cDEfGhIjKlM=';

let jwks: FakeJwks;
let certificate: SelfSignedCertificate;

beforeAll(async () => {
  jwks = await startFakeJwks();
  certificate = createSelfSignedCertificate({ commonName: 'graph-relay contoso logging' });
});

afterAll(async () => {
  await jwks.close();
});

function request(body: unknown, headers: Record<string, string> = {}): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: 'ANY /webhook/{integrationId}',
    rawPath: `/webhook/${INTEGRATION_ID}`,
    rawQueryString: '',
    headers: { 'content-type': 'application/json', ...headers },
    pathParameters: { integrationId: INTEGRATION_ID },
    body: JSON.stringify(body),
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'example.com',
      domainPrefix: 'example',
      http: { method: 'POST', path: `/webhook/${INTEGRATION_ID}`, protocol: 'HTTP/1.1', sourceIp: '1.2.3.4', userAgent: 'test' },
      requestId: GATEWAY_REQUEST_ID,
      routeKey: 'ANY /webhook/{integrationId}',
      stage: '$default',
      time: '01/May/2024:12:00:00 +0000',
      timeEpoch: 0,
    },
    isBase64Encoded: false,
  };
}

/** A runtime on in-memory ports, with a real Powertools logger at DEBUG. */
function runtime(): { runtime: NotificationRuntime; outcomes: IntakeOutcome[] } {
  const ports = fakePorts({ secrets: new FakeSecrets([SECRET_CURRENT, SECRET_PREVIOUS]), snapshot: routingSnapshot({ connections: [{ connectionId: 'a-1', tenantId: TENANT_A }] }) });
  const document = {
    webhookSecret: SECRET_CURRENT,
    clientId: APP_ID,
    encryptionCertificates: { 'cert-1': { certificatePem: certificate.certificatePem, privateKeyPem: certificate.privateKeyPem } },
  };
  ports.rich = {
    tokens: createValidationTokenVerifier({ jwksUrl: jwks.url }),
    configOf: async () => ({ audiences: [APP_ID], keys: encryptionKeysFrom(document) }),
  };
  const logger = new Logger({ serviceName: 'graph-relay-intake' });
  logger.setLogLevel('DEBUG');
  const outcomes: IntakeOutcome[] = [];
  return { runtime: { ports: { ...ports, logger }, logger, refusals: new RefusalTally({ windowSeconds: 60 }), metrics: { record: (outcome) => outcomes.push(outcome), flush: () => undefined } }, outcomes };
}

function richNotification(overrides: Partial<ChangeNotification> = {}): ChangeNotification {
  return changeNotification({
    encryptedContent: { ...encryptContent({ id: 'm1', subject: 'Quarterly numbers' }, { publicKey: certificate.publicKey, id: 'cert-1' }), encryptionCertificateThumbprint: certificate.thumbprint },
    ...overrides,
  });
}

function tampered(notification: ChangeNotification): ChangeNotification {
  const content = { ...(notification.encryptedContent as Record<string, string>) };
  const data = Buffer.from(content['data'] ?? '', 'base64');
  data[0] = (data[0] ?? 0) ^ 0xff;
  content['data'] = data.toString('base64');
  return { ...notification, encryptedContent: content };
}

/** Every line the logger writes, whichever stream it uses. */
function captureOutput(): { lines: () => string[]; restore: () => void } {
  const written: string[] = [];
  const capture = (chunk: unknown): boolean => {
    written.push(String(chunk));
    return true;
  };
  const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(capture);
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(capture);
  return {
    lines: () => written.join('').split('\n').filter((line) => line.trim().length > 0),
    restore: () => {
      stdout.mockRestore();
      stderr.mockRestore();
    },
  };
}

describe('intake logging', () => {
  it('never logs a secret, a clientState, a validation token or key material, on rich, plain and forged requests', async () => {
    // Prepare
    const { runtime: r, outcomes } = runtime();
    const token = await jwks.sign(v2Claims({ tenantId: TENANT_A, audience: APP_ID, issuedAt: Math.floor(Date.now() / 1000) - 60 }));
    const badToken = await jwks.sign(v2Claims({ tenantId: TENANT_A, audience: 'a1b2c3d4-0000-4000-8000-0123456789ab', issuedAt: Math.floor(Date.now() / 1000) - 60 }));
    const rich = richNotification();
    const forgedRich = tampered(richNotification());
    const requests = [
      // rich: decrypted and published; one tampered item refused as forged
      request({ value: [rich, forgedRich], validationTokens: [token] }, { 'client-request-id': GRAPH_REQUEST_ID }),
      // rich with a token for another app: suspicious, nothing published
      request({ value: [richNotification()], validationTokens: [badToken] }),
      // rich without tokens: unverifiable
      request({ value: [richNotification()] }),
      // plain: a change and a lifecycle notification, then the same again (duplicates)
      request({ value: [changeNotification({ clientState: SECRET_PREVIOUS }), lifecycleNotification()] }, { 'request-id': GRAPH_REQUEST_ID }),
      // forged: a clientState nobody issued, next to a malformed item that carries the real one
      request({ value: [changeNotification({ clientState: FORGED_CLIENT_STATE }), { clientState: SECRET_CURRENT, changeType: 'created' }] }),
      // forged only: refused, and the refusal logged once for its window
      request({ value: [changeNotification({ clientState: FORGED_CLIENT_STATE })] }),
    ];
    const secrets = [
      SECRET_CURRENT,
      SECRET_PREVIOUS,
      FORGED_CLIENT_STATE,
      token,
      badToken,
      // any part of a token would do: its signature is what makes it usable
      ...[token, badToken].map((jwt) => jwt.split('.')[2] ?? jwt),
      ...[rich, forgedRich].flatMap((item) => {
        const { data, dataKey, dataSignature } = item.encryptedContent as Record<string, string>;
        return [data, dataKey, dataSignature].filter((value): value is string => value !== undefined);
      }),
      'PRIVATE KEY',
      'BEGIN CERTIFICATE',
      ...certificate.privateKeyPem.split('\n').filter((line) => line.length >= 32),
    ];
    const output = captureOutput();

    // Act
    const statuses: (number | undefined)[] = [];
    try {
      for (const event of requests) statuses.push((await handleRequestWith(event, () => r)).statusCode);
    } finally {
      output.restore();
    }

    // Assess: the requests took the paths this test is about
    expect(outcomes.map((outcome) => outcome.kind)).toEqual(['accepted', 'suspicious', 'unverifiable', 'accepted', 'invalid', 'rejected']);
    expect(outcomes[0]).toMatchObject({ counts: { forged: 1, published: 1 } });
    expect(statuses).toEqual([202, 202, 400, 202, 400, 403]);
    // One line per request, whatever it held.
    const lines = output.lines();
    expect(lines).toHaveLength(requests.length);
    expect(secrets.filter((secret) => lines.some((line) => line.includes(secret)))).toEqual([]);
  });

  it('carries the correlation id on every line: Graph request id when sent, else API Gateway request id', async () => {
    // Prepare
    const { runtime: r } = runtime();
    const output = captureOutput();

    // Act
    try {
      await handleRequestWith(request({ value: [changeNotification(), changeNotification({ clientState: FORGED_CLIENT_STATE })] }, { 'client-request-id': GRAPH_REQUEST_ID }), () => r);
      await handleRequestWith(request({ value: [changeNotification({ resource: 'users/other' }), changeNotification({ clientState: FORGED_CLIENT_STATE })] }), () => r);
    } finally {
      output.restore();
    }

    // Assess
    const lines = output.lines().map((line) => JSON.parse(line) as { message: string; correlation_id?: string });
    const ids = lines.map((line) => line.correlation_id);
    expect(lines).toHaveLength(2);
    expect(new Set(ids)).toEqual(new Set([GRAPH_REQUEST_ID, GATEWAY_REQUEST_ID]));
    expect(ids.indexOf(GATEWAY_REQUEST_ID)).toBeGreaterThan(ids.lastIndexOf(GRAPH_REQUEST_ID));
  });
});

describe('intake logging, concurrent requests on one runtime (the local stack)', () => {
  it('stamps each line with its own request\'s correlation id while requests interleave', async () => {
    // Prepare: the first request's secret read waits until the second request has started.
    const { runtime: r } = runtime();
    const secondStarted = deferred<void>();
    const accepted = r.ports.secrets.accepted.bind(r.ports.secrets);
    let calls = 0;
    r.ports.secrets.accepted = async (integrationId) => {
      calls += 1;
      if (calls === 1) await secondStarted.promise;
      else secondStarted.resolve();
      return accepted(integrationId);
    };
    const OTHER_REQUEST_ID = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
    const mixed = (user: string) => ({ value: [changeNotification({ resource: `users/${user}` }), changeNotification({ clientState: FORGED_CLIENT_STATE })] });
    const output = captureOutput();

    // Act
    try {
      await Promise.all([
        handleRequestWith(request(mixed('a'), { 'client-request-id': GRAPH_REQUEST_ID }), () => r),
        handleRequestWith(request(mixed('b'), { 'client-request-id': OTHER_REQUEST_ID }), () => r),
      ]);
    } finally {
      output.restore();
    }

    // Assess: the first request finished after the second had set its id, and still logged its own.
    const processed = output
      .lines()
      .map((line) => JSON.parse(line) as { message: string; correlation_id?: string; integrationId?: string })
      .filter((line) => line.message === 'notifications processed');
    expect(calls).toBe(2);
    expect(processed.map((line) => line.correlation_id).sort()).toEqual([GRAPH_REQUEST_ID, OTHER_REQUEST_ID].sort());
  });
});

describe('correlationIdOf', () => {
  it.each<[string, Record<string, string>, string]>([
    ['client-request-id', { 'client-request-id': GRAPH_REQUEST_ID }, GRAPH_REQUEST_ID],
    ['request-id', { 'request-id': GRAPH_REQUEST_ID }, GRAPH_REQUEST_ID],
    ['client-request-id before request-id', { 'client-request-id': GRAPH_REQUEST_ID, 'request-id': 'other-id' }, GRAPH_REQUEST_ID],
    ['a header name in any case', { 'Client-Request-Id': GRAPH_REQUEST_ID }, GRAPH_REQUEST_ID],
    ['a well-formed request-id after a malformed client-request-id', { 'client-request-id': 'a b', 'request-id': GRAPH_REQUEST_ID }, GRAPH_REQUEST_ID],
    ['no Graph header', {}, GATEWAY_REQUEST_ID],
    ['text that is not a request id', { 'client-request-id': '"}, {"level":"ERROR' }, GATEWAY_REQUEST_ID],
    ['an over-long id', { 'request-id': 'a'.repeat(65) }, GATEWAY_REQUEST_ID],
    ['an empty header', { 'request-id': '' }, GATEWAY_REQUEST_ID],
  ])('takes %s', (_label, headers, expected) => {
    // Prepare
    const event = request({ value: [] }, headers);

    // Act
    const id = correlationIdOf(event);

    // Assess
    expect(id).toBe(expected);
  });
});
