/**
 * Rich notifications, warm: 10-item batches whose items carry encrypted resource data and whose
 * POST carries one validation token per tenant, against the same batches without resource data, interleaved in one
 * run on the local stack's intake. Also counts the JWKS fetches the intake made (its verifier caches Microsoft's keys).
 * Every rich POST carries newly signed tokens, so the intake's cache of verified tokens never hits: the worst case.
 *
 * The JWKS is a local server (testkit/jwks.ts); the intake finds it through GRAPH_JWKS_URL, which must be set
 * before the intake's first notification (it reads it once per process): `prepareRichJwks()` does that.
 */
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createSelfSignedCertificate, type SelfSignedCertificate } from '../cli/self-signed-certificate';
import { JWKS_URL_ENV } from '../shared/rich/validation-tokens';
import { integrationSecretName } from '../shared/secrets/integration-secret';
import { DynamoDbConnectionsStore } from '../shared/store/dynamodb-connections-store';
import { LOCAL_CREDENTIALS, type LocalStackDescriptor } from '../local/descriptor';
import { startFakeJwks, v2Claims, type FakeJwks } from '../testkit/jwks';
import { encryptContent } from '../testkit/rich-content';
import { notification } from '../testkit/notification';
import { elapsedMs, summarize, type Summary } from './stats';

export const RICH_BATCH_SIZE = 10;
const APP_ID = randomUUID();
/** About the size of an Outlook message resource with a short body. */
const MESSAGE_BODY = 'x'.repeat(2_000);

export interface RichResult {
  requests: number;
  warmup: number;
  batchSize: number;
  tenants: number;
  plain: Summary;
  rich: Summary;
  /** JWKS requests the intake made during the measured requests (and before them, for the first key set). */
  jwksFetches: { measured: number; total: number };
  jwksFetchesPer1000: number;
}

/** Starts the JWKS server and points the intake at it; call before the intake handles its first notification. */
export async function prepareRichJwks(): Promise<FakeJwks> {
  const jwks = await startFakeJwks();
  process.env[JWKS_URL_ENV] = jwks.url;
  return jwks;
}

interface RichSeeded {
  integrationId: string;
  webhookSecret: string;
  tenants: string[];
  certificate: SelfSignedCertificate;
}

async function seed(d: LocalStackDescriptor, dynamodbEndpoint: string, tenantCount: number): Promise<RichSeeded> {
  const clientConfig = { region: d.region, credentials: LOCAL_CREDENTIALS };
  const ddb = new DynamoDBClient({ ...clientConfig, endpoint: dynamodbEndpoint });
  const secrets = new SecretsManagerClient({ ...clientConfig, endpoint: d.awsEmulatorEndpoint });
  try {
    const store = new DynamoDbConnectionsStore(DynamoDBDocumentClient.from(ddb), d.connectionsTable);
    const integrationId = `bench-rich-${randomUUID().slice(0, 8)}`;
    const webhookSecret = `bench-secret-${randomUUID()}`;
    const certificate = createSelfSignedCertificate({ commonName: `graph-relay ${integrationId}` });
    const tenants = Array.from({ length: tenantCount }, () => randomUUID());
    await store.putIntegration({ integrationId, provider: 'microsoft-oauth2-cc' });
    await secrets.send(
      new CreateSecretCommand({
        Name: integrationSecretName(d.webhookSecretPrefix, integrationId),
        SecretString: JSON.stringify({
          webhookSecret,
          clientId: APP_ID,
          clientSecret: 'bench-client-secret-0123456789',
          encryptionCertificates: { 'bench-cert': { certificatePem: certificate.certificatePem, privateKeyPem: certificate.privateKeyPem } },
        }),
      }),
    );
    await Promise.all(tenants.map((tenantId, i) => store.addConnection({ integrationId, connectionId: `conn-${i}`, tenantId })));
    return { integrationId, webhookSecret, tenants, certificate };
  } finally {
    ddb.destroy();
    secrets.destroy();
  }
}

/** A fresh batch (new subscription and resource ids); with resource data when `tokens` is given. */
function body(seeded: RichSeeded, tokens: readonly string[] | undefined): string {
  const value = Array.from({ length: RICH_BATCH_SIZE }, (_, i) => {
    const item = notification({ tenantId: seeded.tenants[i % seeded.tenants.length] as string, clientState: seeded.webhookSecret });
    if (tokens === undefined) return item;
    const resource = { id: randomUUID(), subject: 'Quarterly numbers', body: { contentType: 'text', content: MESSAGE_BODY } };
    return { ...item, encryptedContent: { ...encryptContent(resource, { publicKey: seeded.certificate.publicKey, id: 'bench-cert' }), encryptionCertificateThumbprint: seeded.certificate.thumbprint } };
  });
  return JSON.stringify(tokens === undefined ? { value } : { value, validationTokens: tokens });
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function post(url: string, payload: string): Promise<{ status: number; body: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: elapsedMs(started) }));
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`no answer from ${url} within 30 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Every item accepted and published: anything else makes the measurement invalid. */
function check(answer: { status: number; body: string }, what: string): void {
  const counts = answer.status === 202 ? (JSON.parse(answer.body) as Record<string, unknown>) : undefined;
  if (counts === undefined || counts['published'] !== RICH_BATCH_SIZE || counts['forged'] !== 0) {
    throw new Error(`${what}: answered ${answer.status} ${answer.body.slice(0, 300)}; expected 202 with ${RICH_BATCH_SIZE} published and 0 forged`);
  }
}

export async function runRich(options: {
  descriptor: LocalStackDescriptor;
  /** DynamoDB Local itself, for seeding. */
  dynamodbEndpoint: string;
  jwks: FakeJwks;
  tenants: number;
  requests: number;
  warmup: number;
  /** Called after each measured pair, e.g. to clear the emulator's event log. */
  afterEach?: () => void;
  log: (line: string) => void;
}): Promise<RichResult> {
  const seeded = await seed(options.descriptor, options.dynamodbEndpoint, options.tenants);
  // One token per tenant with resource data in the POST, as Graph sends them. Each POST gets new ones (a new
  // `iat`/`jti`), so the intake's cache of verified tokens never helps: the worst case, every signature checked.
  let sequence = 0;
  const freshTokens = () => {
    sequence += 1;
    const issuedAt = Math.floor(Date.now() / 1000) - 60;
    return Promise.all(seeded.tenants.map((tenantId) => options.jwks.sign(v2Claims({ tenantId, audience: APP_ID, issuedAt }, { jti: `${sequence}-${tenantId}` }))));
  };
  const url = `${options.descriptor.intakeUrl.replace(/\/+$/, '')}/webhook/${seeded.integrationId}`;
  const plain: number[] = [];
  const rich: number[] = [];
  let fetchesBefore = 0;
  options.log(`rich: ${options.warmup} warm-up + ${options.requests} measured pairs of ${RICH_BATCH_SIZE}-item batches (plain, rich) across ${options.tenants} tenants`);
  for (let round = 0; round < options.warmup + options.requests; round += 1) {
    if (round === options.warmup) fetchesBefore = options.jwks.requests;
    // Bodies are built (and encrypted) before the clock starts; the order alternates so neither kind always goes first.
    const plainBody = body(seeded, undefined);
    const richBody = body(seeded, await freshTokens());
    const order = round % 2 === 0 ? (['plain', 'rich'] as const) : (['rich', 'plain'] as const);
    for (const kind of order) {
      const answer = await post(url, kind === 'plain' ? plainBody : richBody);
      check(answer, `rich bench, ${kind} batch ${round}`);
      if (round >= options.warmup) (kind === 'plain' ? plain : rich).push(answer.ms);
    }
    options.afterEach?.();
  }
  const measured = options.jwks.requests - fetchesBefore;
  return {
    requests: options.requests,
    warmup: options.warmup,
    batchSize: RICH_BATCH_SIZE,
    tenants: options.tenants,
    plain: summarize(plain),
    rich: summarize(rich),
    jwksFetches: { measured, total: options.jwks.requests },
    jwksFetchesPer1000: (options.jwks.requests / (options.warmup + options.requests)) * 1000,
  };
}

export function destroyRichAgent(): void {
  agent.destroy();
}
