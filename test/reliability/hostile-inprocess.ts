/**
 * The in-process layer of the hostile phase: fast-check properties against the handshake, the intake entry (API
 * Gateway v2 events), the body parser and the whole notification path on in-memory ports, plus crafted cases
 * (deep nesting, bodies around the 1 MB limit, thousands of items, forged rich notifications). Each run's
 * answer goes through the checks of hostile-checks.ts; fast-check reports its seed and the shrunk input of a
 * failure (secrets redacted).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import * as fc from 'fast-check';
import { handler } from '../../functions/intake/handler';
import { handleRequestWith } from '../../functions/intake/notifications';
import type { NotificationRuntime } from '../../functions/intake/runtime';
import { RefusalTally } from '../../shared/intake/refusal-tally';
import { INTAKE_DEFAULTS } from '../../shared/config/intake-config';
import { createSelfSignedCertificate } from '../../cli/self-signed-certificate';
import { InvalidNotificationBodyError, parseNotificationBody } from '../../shared/graph/change-notification';
import { answerHandshake } from '../../shared/graph/handshake';
import type { IntakePorts } from '../../shared/intake/process-notifications';
import type { IntakeLogger } from '../../shared/intake/request-log';
import { createValidationTokenVerifier } from '../../shared/rich/validation-tokens';
import { encryptionKeysFrom } from '../../shared/secrets/encryption-keys';
import { fakePorts, FakeSecrets, routingSnapshot, type RecordingPublisher } from '../support/fakes';
import { generateSigningKey, startFakeJwks, v2Claims } from '../../testkit/jwks';
import { encryptContent } from '../../testkit/rich-content';
import {
  deeplyNested,
  hostileString,
  hostileToken,
  wireBody,
  wireBytes,
  type HostileFixture,
} from './hostile-arbitraries';
import { checkPublished, wellFormed, fail, handshakeProblem, headerProblem, problems, prototypeSnapshot, publishableKeys, redact, type HostileTally } from './hostile-checks';

const INTEGRATION_ID = 'contoso';
const SECRET = 'hostile-fuzz-secret-4f1c9e2a7b';
const OTHER_SECRET = 'another-integration-secret-9d3a';
const TENANT_A = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
const TENANT_B = '0f2d8f49-862a-493b-9ca8-82a10637e17d';
const SUB_A = '11111111-1111-4111-8111-111111111111';
const SUB_B = '22222222-2222-4222-8222-222222222222';
/** A subscription record claiming tenant A for tenant B's connection: routing must not trust it. */
const SUB_MIXED = '33333333-3333-4333-8333-333333333333';
const APP_ID = '3f6a1c2e-0d4b-4a7e-9b1a-5c2d7e8f9a01';
const CONNECTIONS: Record<string, string[]> = { [TENANT_A]: ['a-1', 'a-2'], [TENANT_B]: ['b-1'] };
const SECRETS = [SECRET, OTHER_SECRET];

export const IN_PROCESS_FIXTURE: HostileFixture = {
  integrationId: INTEGRATION_ID,
  secret: SECRET,
  otherSecret: OTHER_SECRET,
  tenants: [TENANT_A, TENANT_B],
  subscriptionIds: [SUB_A, SUB_B, SUB_MIXED],
};

/** Statuses the intake documents for requests it refuses or accepts (200 is the handshake). */
const DOCUMENTED = new Set([200, 202, 400, 403, 404, 405, 413]);

const connectionsOf = (tenantId: string): readonly string[] => CONNECTIONS[tenantId] ?? [];
/** The tenant each subscription record names (the runtime's store holds them): an item naming no tenant takes it. */
const RECORDED_TENANTS: Record<string, string> = { [SUB_A]: TENANT_A, [SUB_B]: TENANT_B, [SUB_MIXED]: TENANT_A };
const recordedTenantOf = (subscriptionId: string): string | undefined => RECORDED_TENANTS[subscriptionId];

/** A log port that remembers nothing but whether a field carried a secret. */
class CheckingLogger implements IntakeLogger {
  constructor(private readonly onSecret: (line: string) => void) {}
  private check(message: string, fields: Record<string, unknown>): void {
    const text = `${message} ${JSON.stringify(fields)}`;
    if (SECRETS.some((s) => text.includes(s))) this.onSecret(text);
  }
  info(message: string, fields: Record<string, unknown>): void {
    this.check(message, fields);
  }
  warn(message: string, fields: Record<string, unknown>): void {
    this.check(message, fields);
  }
  error(message: string, fields: Record<string, unknown>): void {
    this.check(message, fields);
  }
}

const silentLogger = new Logger({ serviceName: 'graph-relay-hostile-fuzz', logLevel: 'SILENT' });

interface Runtime {
  runtime: NotificationRuntime;
  publisher: RecordingPublisher;
  ports: IntakePorts;
}

/**
 * Rich notification ports as the deployed intake has them, on a key set of one key nobody in this phase signs with:
 * no fuzzed token can verify, and none needs the network.
 */
let defaultRich: IntakePorts['rich'];

async function richPorts(): Promise<NonNullable<IntakePorts['rich']>> {
  const key = await generateSigningKey('hostile-fuzz-kid');
  const body = JSON.stringify({ keys: [key.publicJwk] });
  return {
    tokens: createValidationTokenVerifier({ jwksUrl: 'https://jwks.invalid/keys', fetch: async () => new Response(body, { status: 200, headers: { 'content-type': 'application/json' } }) }),
    configOf: async () => ({ audiences: [APP_ID], keys: encryptionKeysFrom({ webhookSecret: SECRET }) }),
  };
}

/** In-memory ports: the routing and the secret exist for INTEGRATION_ID only. */
function newRuntime(tally: HostileTally, rich: IntakePorts['rich'] = defaultRich): Runtime {
  const snapshot = routingSnapshot({
    connections: Object.entries(CONNECTIONS).flatMap(([tenantId, ids]) => ids.map((connectionId) => ({ connectionId, tenantId }))),
    subscriptions: [
      { subscriptionId: SUB_A, connectionId: 'a-1', tenantId: TENANT_A },
      { subscriptionId: SUB_B, connectionId: 'b-1', tenantId: TENANT_B },
      { subscriptionId: SUB_MIXED, connectionId: 'b-1', tenantId: TENANT_A },
    ],
  });
  const base = fakePorts({ secrets: new FakeSecrets([SECRET]), snapshot });
  const secrets = new FakeSecrets([SECRET]);
  const ports: IntakePorts = {
    ...base,
    secrets: {
      accepted: async (id) => (id === INTEGRATION_ID ? secrets.accepted(id) : undefined),
      acceptedSince: async (id, since, options) => (id === INTEGRATION_ID ? secrets.acceptedSince(id, since, options) : undefined),
    },
    logger: new CheckingLogger((line) => fail(tally, 'secretEchoed', `log line carried a secret: ${line}`, SECRETS)),
    ...(rich === undefined ? {} : { rich }),
  };
  return { runtime: { ports, logger: silentLogger, refusals: new RefusalTally({ windowSeconds: 60 }), metrics: { record: () => undefined, flush: () => undefined } }, publisher: base.publisher, ports };
}

export function apiEvent(input: {
  method?: string;
  rawPath?: string;
  integrationId?: string | undefined;
  rawQueryString?: string;
  queryStringParameters?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Buffer | string | undefined;
  base64?: boolean;
}): APIGatewayProxyEventV2 {
  const rawPath = input.rawPath ?? `/webhook/${INTEGRATION_ID}`;
  const integrationId = 'integrationId' in input ? input.integrationId : INTEGRATION_ID;
  const body = input.body === undefined ? undefined : input.base64 === true ? Buffer.from(input.body).toString('base64') : Buffer.isBuffer(input.body) ? input.body.toString('utf8') : input.body;
  return {
    version: '2.0',
    routeKey: 'ANY /webhook/{integrationId}',
    rawPath,
    rawQueryString: input.rawQueryString ?? '',
    headers: { 'content-type': 'application/json', ...input.headers },
    ...(input.queryStringParameters === undefined ? {} : { queryStringParameters: input.queryStringParameters }),
    ...(integrationId === undefined ? {} : { pathParameters: { integrationId } }),
    ...(body === undefined ? {} : { body }),
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'example.com',
      domainPrefix: 'example',
      http: { method: input.method ?? 'POST', path: rawPath, protocol: 'HTTP/1.1', sourceIp: '1.2.3.4', userAgent: 'hostile' },
      requestId: 'hostile-request',
      routeKey: 'ANY /webhook/{integrationId}',
      stage: '$default',
      time: '01/May/2024:12:00:00 +0000',
      timeEpoch: 0,
    },
    isBase64Encoded: input.base64 === true,
  };
}

/** Whether the entry handler answers this event as a handshake (POST with a validationToken). */
function isHandshake(event: APIGatewayProxyEventV2): boolean {
  if (event.requestContext.http.method !== 'POST') return false;
  if (event.rawQueryString.length > 0) return new URLSearchParams(event.rawQueryString).has('validationToken');
  return event.queryStringParameters?.['validationToken'] !== undefined;
}

/**
 * Sends one event through the entry (handshake) or the notification path on `runtime`, and checks the answer:
 * no throw, a documented status, no reflected header, no secret in the body, nothing forged or misrouted published.
 */
async function deliver(tally: HostileTally, event: APIGatewayProxyEventV2, runtime: Runtime, label: string): Promise<APIGatewayProxyStructuredResultV2 | undefined> {
  tally.inputs += 1;
  const before = runtime.publisher.published.length;
  let answer: APIGatewayProxyStructuredResultV2;
  try {
    answer = isHandshake(event) ? await handler(event) : await handleRequestWith(event, () => runtime.runtime);
  } catch (error) {
    fail(tally, 'crashes', `${label}: threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`, SECRETS);
    return undefined;
  }
  const status = answer.statusCode ?? 0;
  tally.statuses.set(status, (tally.statuses.get(status) ?? 0) + 1);
  if (status >= 500) fail(tally, 'serverErrors', `${label}: ${status} ${answer.body ?? ''}`, SECRETS);
  else if (!DOCUMENTED.has(status)) fail(tally, 'unexpected', `${label}: undocumented status ${status}`, SECRETS);
  const header = headerProblem(answer.headers ?? {});
  if (header !== undefined) fail(tally, 'reflected', `${label}: ${header}`, SECRETS);
  if (SECRETS.some((s) => (answer.body ?? '').includes(s))) fail(tally, 'secretEchoed', `${label}: the answer body carries a secret`, SECRETS);

  const published = runtime.publisher.published.slice(before);
  if (published.length > 0) {
    const decoded = event.body === undefined ? '' : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8').toString('utf8');
    const publishable = publishableKeys(INTEGRATION_ID, decoded, SECRET, recordedTenantOf);
    checkPublished(
      tally,
      published.map((e) => e.detail),
      { integrationId: INTEGRATION_ID, publishable, connectionsOf, secrets: SECRETS },
    );
  }
  return answer;
}

/** Runs a property; a failure is logged with its seed, path and shrunk input (secrets redacted). */
async function runProperty<Ts>(
  name: string,
  property: fc.IAsyncProperty<Ts> | fc.IProperty<Ts>,
  numRuns: number,
  log: (line: string) => void,
  tally: HostileTally,
): Promise<void> {
  const details = await fc.check(property as fc.IAsyncProperty<Ts>, { numRuns, ...(process.env['RELIABILITY_FUZZ_SEED'] ? { seed: Number(process.env['RELIABILITY_FUZZ_SEED']) } : {}) });
  if (details.failed) {
    const message = redact(fc.defaultReportMessage(details) ?? 'failed', SECRETS, 3000);
    log(`hostile: property "${name}" FAILED (seed ${details.seed}, path "${details.counterexamplePath ?? ''}"): ${message}`);
    if (tally.failures.length < 20) tally.failures.push(`property ${name}: seed ${details.seed} path ${details.counterexamplePath ?? ''}`);
  } else {
    log(`hostile: property "${name}" held for ${details.numRuns} runs (seed ${details.seed})`);
  }
}

let pollutionOf: () => string | undefined = () => undefined;

/** Every property holds when no counter moved during the run; built-in prototypes are checked after each run. */
function held(tally: HostileTally, before: number): boolean {
  const polluted = pollutionOf();
  if (polluted !== undefined) fail(tally, 'pollution', polluted, SECRETS);
  return problems(tally) === before;
}

export async function runInProcess(input: { tally: HostileTally; runs: number; crafted: boolean; log: (line: string) => void; registerSecret: (value: string, label: string) => void }): Promise<{ properties: number; crafted: number }> {
  const { tally, runs, log } = input;
  pollutionOf = prototypeSnapshot();
  defaultRich = await richPorts();
  input.registerSecret(SECRET, 'in-process fuzz webhook secret');
  input.registerSecret(OTHER_SECRET, 'in-process fuzz other secret');
  let properties = 0;

  // 1. The handshake function: 200 text/plain nosniff, the token escaped and nothing else, fixed headers.
  properties += 1;
  await runProperty(
    'answerHandshake echoes the escaped token as text/plain',
    fc.property(hostileToken(), (token) => {
      const before = problems(tally);
      tally.inputs += 1;
      const answer = answerHandshake(token);
      const problem =
        answer === undefined
          ? 'no answer'
          : handshakeProblem(token, { status: answer.statusCode, contentType: answer.headers['content-type'], nosniff: answer.headers['x-content-type-options'], body: answer.body }) ??
            headerProblem(answer.headers);
      if (problem !== undefined) fail(tally, 'handshakeWrong', `answerHandshake: ${problem} for ${JSON.stringify(token).slice(0, 200)}`, SECRETS);
      return held(tally, before);
    }),
    runs,
    log,
    tally,
  );

  // 2. The entry handler's handshake, from the raw query (form-decoded) or from queryStringParameters.
  properties += 1;
  await runProperty(
    'the intake entry answers the handshake from the raw query or the parameters',
    fc.asyncProperty(hostileToken(), fc.boolean(), fc.constantFrom('', 'a=1&', 'validationToken=first&'), async (token, raw, prefix) => {
      const before = problems(tally);
      tally.inputs += 1;
      const query = new URLSearchParams({ validationToken: token }).toString();
      // A repeated parameter: the first one is the token.
      const expectedToken = prefix.startsWith('validationToken=') ? 'first' : token;
      const event = raw ? apiEvent({ rawQueryString: `${prefix}${query}` }) : apiEvent({ queryStringParameters: { validationToken: token } });
      const answer = await handler(event).catch((error: unknown) => {
        fail(tally, 'crashes', `handler threw on a handshake: ${String(error)}`, SECRETS);
        return undefined;
      });
      if (answer !== undefined) {
        const headers = (answer.headers ?? {}) as Record<string, string>;
        const problem =
          handshakeProblem(raw ? expectedToken : token, { status: answer.statusCode ?? 0, contentType: headers['content-type'], nosniff: headers['x-content-type-options'], body: answer.body ?? '' }) ??
          headerProblem(headers);
        if (problem !== undefined) fail(tally, 'handshakeWrong', `handler: ${problem}`, SECRETS);
      }
      return held(tally, before);
    }),
    runs,
    log,
    tally,
  );

  // 3. The body parser: returns or throws InvalidNotificationBodyError, nothing else; every item accounted for.
  properties += 1;
  await runProperty(
    'parseNotificationBody refuses bad input with InvalidNotificationBodyError only',
    fc.property(wireBody(IN_PROCESS_FIXTURE), (body) => {
      const before = problems(tally);
      tally.inputs += 1;
      const text = wireBytes(body).toString('utf8');
      try {
        const parsed = parseNotificationBody(text);
        const value = (JSON.parse(text) as { value: unknown[] }).value;
        if (parsed.notifications.length + parsed.refused.length !== value.length) fail(tally, 'unexpected', 'parser lost or invented items', SECRETS);
        if (parsed.refused.some((r) => SECRETS.some((s) => r.reason.includes(s)))) fail(tally, 'secretEchoed', 'a refusal reason carries a secret', SECRETS);
      } catch (error) {
        if (!(error instanceof InvalidNotificationBodyError)) fail(tally, 'crashes', `parser threw ${String(error)}`, SECRETS);
        else if (SECRETS.some((s) => error.message.includes(s))) fail(tally, 'secretEchoed', 'a parse error carries a secret', SECRETS);
      }
      return held(tally, before);
    }),
    runs,
    log,
    tally,
  );

  // 4. The whole notification path with hostile bodies, as JSON text or base64 bytes.
  properties += 1;
  await runProperty(
    'the notification path never throws, never 5xx, never publishes a forged item',
    fc.asyncProperty(wireBody(IN_PROCESS_FIXTURE), fc.boolean(), async (body, base64) => {
      const before = problems(tally);
      const runtime = newRuntime(tally);
      await deliver(tally, apiEvent({ body: wireBytes(body), base64: base64 || body.kind === 'bytes' }), runtime, 'notification path');
      return held(tally, before);
    }),
    runs,
    log,
    tally,
  );

  // 5. Hostile events: methods, paths, headers, queries and bodies together.
  properties += 1;
  const nastyPaths = fc.constantFrom(
    '/webhook/..%2F..%2Fetc%2Fpasswd',
    '/webhook/%2e%2e',
    '/webhook/%00',
    '/webhook/contoso%00',
    `/webhook/${'a'.repeat(10_000)}`,
    '/webhook/ünïcödé',
    '/webhook/%E0%A4%A',
    '/webhook/%',
    '/webhook/contoso/../admin',
    '/webhook/contoso%2F..',
    '/webhook//contoso',
    '/webhook/contoso/',
    '/webhook/CONTOSO',
    '/webhook/constructor',
    '/webhook/__proto__',
    '/',
    '',
  );
  await runProperty(
    'hostile API Gateway events: any method, path, header and query',
    fc.asyncProperty(
      fc.record({
        method: fc.oneof({ arbitrary: fc.constant('POST'), weight: 6 }, { arbitrary: fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'post', ''), weight: 2 }, { arbitrary: hostileString(8), weight: 1 }),
        path: fc.oneof({ arbitrary: fc.constant(`/webhook/${INTEGRATION_ID}`), weight: 4 }, { arbitrary: nastyPaths, weight: 3 }, { arbitrary: hostileString(80).map((s) => `/webhook/${s}`), weight: 2 }),
        withPathParameters: fc.boolean(),
        headers: fc.dictionary(fc.oneof(fc.constantFrom('client-request-id', 'request-id', 'content-type', 'host', '__proto__', 'constructor'), hostileString(16)), hostileString(120), { maxKeys: 4 }),
        query: fc.oneof(fc.constant(''), hostileString(120), hostileToken().map((t) => `validationToken=${encodeURIComponent(wellFormed(t))}`), hostileString(40).map((t) => `validationToken=${t}`)),
        body: fc.option(wireBody(IN_PROCESS_FIXTURE), { nil: undefined }),
        base64: fc.boolean(),
      }),
      async (request) => {
        const before = problems(tally);
        const runtime = newRuntime(tally);
        const event = apiEvent({
          method: request.method,
          rawPath: request.path,
          integrationId: request.withPathParameters ? request.path.replace(/^\/webhook\//, '') : undefined,
          rawQueryString: request.query,
          headers: request.headers,
          body: request.body === undefined ? undefined : wireBytes(request.body),
          base64: request.base64 || request.body?.kind === 'bytes',
        });
        await deliver(tally, event, runtime, `event ${request.method} ${request.path.slice(0, 60)}`);
        return held(tally, before);
      },
    ),
    runs,
    log,
    tally,
  );

  let crafted = 0;
  if (input.crafted) crafted = await craftedInProcess(tally, log, input.registerSecret);
  return { properties, crafted };
}

/** Crafted cases in process: nesting, the 1 MB limit, thousands of items, forged rich notifications. */
async function craftedInProcess(tally: HostileTally, log: (line: string) => void, registerSecret: (value: string, label: string) => void): Promise<number> {
  let count = 0;
  const send = async (label: string, body: Buffer | string, options: { base64?: boolean; runtime?: Runtime; expect?: number } = {}) => {
    count += 1;
    const runtime = options.runtime ?? newRuntime(tally);
    const answer = await deliver(tally, apiEvent({ body, ...(options.base64 === undefined ? {} : { base64: options.base64 }) }), runtime, label);
    if (answer !== undefined && options.expect !== undefined && answer.statusCode !== options.expect) {
      fail(tally, 'unexpected', `${label}: expected ${options.expect}, got ${answer.statusCode}`, SECRETS);
    }
    return { answer, runtime };
  };
  const item = (overrides: Record<string, unknown> = {}) => ({ subscriptionId: SUB_A, tenantId: TENANT_A, changeType: 'created', clientState: SECRET, resource: 'users/u1/messages/m1', ...overrides });

  // Deep nesting: as the body, as an item, inside resourceData; with the real secret (which reaches hashing) and without.
  for (const depth of [1_000, 10_000, 100_000, 400_000]) {
    for (const kind of ['array', 'object', 'mixed'] as const) {
      const nested = deeplyNested(depth, kind);
      if (nested.length > INTAKE_DEFAULTS.maxBodyBytes - 400) continue;
      await send(`body nested ${depth} (${kind})`, nested);
      await send(`value nested ${depth} (${kind})`, `{"value":${nested}}`);
      for (const clientState of [SECRET, 'forged-client-state-0000']) {
        const text = JSON.stringify({ value: [item({ clientState, resource: `deep/${depth}/${kind}` })] }).replace(/}]}$/, `,"resourceData":{"deep":${nested}}}]}`);
        // An item is parsed only once its clientState verified: refused as malformed with the secret, else as forged.
        await send(`item nested ${depth} (${kind}, ${clientState === SECRET ? 'secret' : 'forged'})`, text, { expect: clientState === SECRET ? 400 : 403 });
      }
    }
  }

  // Around the 1 MB limit: bytes are counted, not characters; over the limit is 413, also when base64-encoded.
  const limit = INTAKE_DEFAULTS.maxBodyBytes;
  const padded = (size: number, unit = 'x') => {
    const head = JSON.stringify({ value: [item({ resource: 'big' })] }).replace(/}]}$/, ',"pad":"');
    const tail = '"}]}';
    const room = size - Buffer.byteLength(head) - Buffer.byteLength(tail);
    return head + unit.repeat(Math.floor(room / Buffer.byteLength(unit))) + tail;
  };
  await send('body of exactly 1 MB', padded(limit));
  await send('body one byte over 1 MB', padded(limit + 1), { expect: 413 });
  await send('body of 1 MB of 2-byte characters plus one', padded(limit + 2, 'é'), { expect: 413 });
  await send('base64 body over 1 MB', padded(limit + 10), { base64: true, expect: 413 });
  await send('10 MB of NUL bytes', Buffer.alloc(10 * 1024 * 1024), { base64: true, expect: 413 });
  await send('a huge clientState', JSON.stringify({ value: [item({ clientState: `${SECRET}${'x'.repeat(900_000)}` })] }));
  await send('a huge string key', `{"value":[],"${'k'.repeat(900_000)}":1}`);

  // Thousands of items: all forged, all valid, and alternating.
  const many = 5_000;
  const forged = await send(`${many} forged items`, JSON.stringify({ value: Array.from({ length: many }, (_, i) => item({ clientState: `forged-${i}-xxxxxxxxxxxxxxxx`, resource: `many/forged/${i}` })) }), { expect: 403 });
  if (forged.runtime.publisher.published.length !== 0) fail(tally, 'forgedPublished', `${many} forged items: ${forged.runtime.publisher.published.length} published`, SECRETS);
  const valid = await send(`${many} valid items`, JSON.stringify({ value: Array.from({ length: many }, (_, i) => item({ tenantId: TENANT_B, subscriptionId: SUB_B, resource: `many/valid/${i}` })) }), { expect: 202 });
  if (valid.runtime.publisher.published.length !== many) fail(tally, 'unexpected', `${many} valid items: ${valid.runtime.publisher.published.length} published`, SECRETS);
  const mixed = await send(
    `${many} alternating items`,
    JSON.stringify({ value: Array.from({ length: many }, (_, i) => (i % 2 === 0 ? item({ tenantId: TENANT_B, subscriptionId: SUB_B, resource: `many/mixed/${i}` }) : item({ clientState: `${SECRET}-${i}`, resource: `many/mixed/${i}` }))) }),
    { expect: 202 },
  );
  if (mixed.runtime.publisher.published.length !== many / 2) fail(tally, 'forgedPublished', `${many} alternating items: ${mixed.runtime.publisher.published.length} published`, SECRETS);
  // None carries a clientState: refused as unverified (403), the answer an unknown integration gets, without a secret read.
  await send(`${many} junk items`, JSON.stringify({ value: Array.from({ length: many }, (_, i) => [null, 1, 'x', [], {}, { __proto__: null }][i % 6]) }), { expect: 403 });

  // Routing: another tenant's subscription id, and a subscription record that claims the wrong tenant.
  const routed = newRuntime(tally);
  await send('tenant A with tenant B subscription', JSON.stringify({ value: [item({ subscriptionId: SUB_B, resource: 'route/1' }), item({ subscriptionId: SUB_MIXED, resource: 'route/2' }), item({ tenantId: TENANT_B, subscriptionId: SUB_A, resource: 'route/3' })] }), { runtime: routed, expect: 202 });
  const targets = routed.publisher.published.map((e) => `${e.detail.payload.value[0].resource}->${String(e.detail.connectionId)}`).sort();
  const expectedTargets = ['route/1->a-1', 'route/1->a-2', 'route/2->a-1', 'route/2->a-2', 'route/3->b-1'];
  if (JSON.stringify(targets) !== JSON.stringify(expectedTargets)) fail(tally, 'misrouted', `cross-tenant subscriptions routed as ${targets.join(', ')}`, SECRETS);

  // Prototype keys as JSON text: own keys after JSON.parse, never the prototype.
  for (const key of ['__proto__', 'constructor', 'prototype']) {
    await send(`${key} holding the clientState`, `{"value":[{"subscriptionId":"s","tenantId":"${TENANT_A}","changeType":"created","${key}":{"clientState":"${SECRET}"}}]}`, { expect: 403 });
    // The top-level `value` is empty: nothing verified, refused as every unverified POST is.
    await send(`${key} at the top`, `{"${key}":{"value":[${JSON.stringify(item())}]},"value":[]}`, { expect: 403 });
    await send(`${key} as value`, `{"value":{"${key}":[${JSON.stringify(item())}]}}`, { expect: 400 });
  }

  count += await craftedRich(tally, log, registerSecret);
  return count;
}

/** Rich notifications with validation tokens that must all be refused: nothing in such a POST is published. */
async function craftedRich(tally: HostileTally, log: (line: string) => void, registerSecret: (value: string, label: string) => void): Promise<number> {
  const jwks = await startFakeJwks();
  try {
    const certificate = createSelfSignedCertificate({ commonName: 'graph-relay hostile fuzz' });
    registerSecret(certificate.privateKeyPem, 'in-process fuzz encryption key');
    const rich = {
      tokens: createValidationTokenVerifier({ jwksUrl: jwks.url }),
      configOf: async () => ({
        audiences: [APP_ID],
        keys: encryptionKeysFrom({ webhookSecret: SECRET, encryptionCertificates: { 'cert-1': { certificatePem: certificate.certificatePem, privateKeyPem: certificate.privateKeyPem } } }),
      }),
    };
    const now = Math.floor(Date.now() / 1000);
    const good = await jwks.sign(v2Claims({ tenantId: TENANT_A, audience: APP_ID, issuedAt: now - 60 }));
    const hostileTokens: [string, string][] = [
      ['not a JWT', 'a.b.c'],
      ['alg none', await jwks.sign(v2Claims({ tenantId: TENANT_A, audience: APP_ID, issuedAt: now - 60 }), { alg: 'none' })],
      ['HS256 with the public key', await jwks.sign(v2Claims({ tenantId: TENANT_A, audience: APP_ID, issuedAt: now - 60 }), { alg: 'HS256', key: new TextEncoder().encode(jwks.keys[0]?.publicPem ?? 'x') })],
      ['expired', await jwks.sign(v2Claims({ tenantId: TENANT_A, audience: APP_ID, issuedAt: now - 7200 }))],
      ['another audience', await jwks.sign(v2Claims({ tenantId: TENANT_A, audience: 'a1b2c3d4-0000-4000-8000-0123456789ab', issuedAt: now - 60 }))],
      ['another tenant', await jwks.sign(v2Claims({ tenantId: TENANT_B, audience: APP_ID, issuedAt: now - 60 }))],
      ['<script> in a token', '<script>alert(1)</script>.e30.x'],
    ];
    for (const token of [good, ...hostileTokens.map(([, t]) => t)]) if (token.length >= 8) registerSecret(token, 'in-process fuzz validation token');
    const encrypted = (resource: string) => ({
      subscriptionId: SUB_A,
      tenantId: TENANT_A,
      changeType: 'created',
      clientState: SECRET,
      resource,
      encryptedContent: { ...encryptContent({ id: resource }, { publicKey: certificate.publicKey, id: 'cert-1' }), encryptionCertificateThumbprint: certificate.thumbprint },
    });
    let count = 0;
    for (const [label, token] of hostileTokens) {
      count += 1;
      const runtime = newRuntime(tally, rich);
      const answer = await deliver(tally, apiEvent({ body: JSON.stringify({ value: [encrypted(`rich/${label}`)], validationTokens: [token] }) }), runtime, `rich: ${label}`);
      if (answer?.statusCode !== 202 || runtime.publisher.published.length > 0) fail(tally, 'forgedPublished', `rich with ${label}: ${answer?.statusCode}, ${runtime.publisher.published.length} published`, SECRETS);
    }
    // A valid token vouches for the POST; an item whose ciphertext was altered is still refused alone.
    const tampered = encrypted('rich/tampered');
    const content = tampered.encryptedContent as Record<string, string>;
    const data = Buffer.from(content['data'] ?? '', 'base64');
    data[0] = (data[0] ?? 0) ^ 0xff;
    content['data'] = data.toString('base64');
    const runtime = newRuntime(tally, rich);
    count += 1;
    tally.inputs += 1;
    const answer = await handleRequestWith(apiEvent({ body: JSON.stringify({ value: [tampered, encrypted('rich/genuine')], validationTokens: [good] }) }), () => runtime.runtime);
    const published = runtime.publisher.published.map((e) => e.detail.payload.value[0].resource);
    if (answer.statusCode !== 202 || JSON.stringify(published) !== JSON.stringify(['rich/genuine'])) {
      fail(tally, 'forgedPublished', `tampered rich item: ${answer.statusCode}, published ${published.join(', ')}`, SECRETS);
    }
    log(`hostile: ${count} crafted rich notifications checked`);
    return count;
  } finally {
    await jwks.close();
  }
}
