/**
 * Warm latency and calls per request on the local stack: sequential HTTP requests with fresh notifications,
 * each checked (202, everything published), each with its DynamoDB and EventBridge calls counted.
 */
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { LOCAL_CREDENTIALS, type LocalStackDescriptor } from '../local/descriptor';
import type { DynamoDbProxy } from '../testkit/dynamodb-proxy';
import type { LocalStack } from '../local/stack';
import { integrationSecretName } from '../shared/secrets/integration-secret';
import { DynamoDbConnectionsStore } from '../shared/store/dynamodb-connections-store';
import { notification } from '../testkit/notification';
import { countRounds, READ_OPERATIONS, WRITE_OPERATIONS, type CallTracer, type TracedCall } from './call-tracer';
import { elapsedMs, median, summarize, type Summary } from './stats';

export const HANDSHAKE_TOKEN = 'Validation: Testing';
export const HANDSHAKE_QUERY = 'validationToken=Validation%3A+Testing';
/** The integration registry's read (in the background every REGISTRY_REFRESH_SECONDS, or brought forward by a new id). */
const REGISTRY_READ_OPERATIONS = new Set(['Query']);

export class BenchAbortError extends Error {
  override readonly name = 'BenchAbortError';
}

export interface Seeded {
  integrationId: string;
  webhookSecret: string;
  tenants: string[];
}

export interface Instruments {
  stack: LocalStack;
  proxy: DynamoDbProxy;
  tracer: CallTracer;
}

export interface Seeder {
  seed(integrationId: string, tenantCount: number): Promise<Seeded>;
  close(): void;
}

/**
 * Seeds straight into DynamoDB Local (not through the proxies) and the stack's emulator, as the CLI would. Takes the
 * stack's descriptor: the in-process stack's, or the one `npm start` wrote to `<data dir>/local-stack.json`.
 */
export function createSeeder(d: LocalStackDescriptor, dynamodbEndpoint: string): Seeder {
  const clientConfig = { region: d.region, credentials: LOCAL_CREDENTIALS };
  const ddb = new DynamoDBClient({ ...clientConfig, endpoint: dynamodbEndpoint });
  const store = new DynamoDbConnectionsStore(DynamoDBDocumentClient.from(ddb), d.connectionsTable);
  const secrets = new SecretsManagerClient({ ...clientConfig, endpoint: d.awsEmulatorEndpoint });
  return {
    async seed(integrationId, tenantCount) {
      const webhookSecret = `bench-secret-${randomUUID()}`;
      const tenants = Array.from({ length: tenantCount }, () => randomUUID());
      await store.putIntegration({ integrationId, provider: 'microsoft-oauth2-cc' });
      await secrets.send(
        new CreateSecretCommand({
          Name: integrationSecretName(d.webhookSecretPrefix, integrationId),
          SecretString: JSON.stringify({ webhookSecret }),
        }),
      );
      await Promise.all(tenants.map((tenantId, i) => store.addConnection({ integrationId, connectionId: `conn-${i}`, tenantId })));
      return { integrationId, webhookSecret, tenants };
    },
    close() {
      ddb.destroy();
      secrets.destroy();
    },
  };
}

/** `size` notifications never seen before (new subscription and resource ids), spread over the tenants in turn. */
export function freshBody(seeded: Seeded, size: number): string {
  const value = Array.from({ length: size }, (_, i) =>
    notification({ tenantId: seeded.tenants[i % seeded.tenants.length] as string, clientState: seeded.webhookSecret }),
  );
  return JSON.stringify({ value });
}

/** The API Gateway HTTP API (payload 2.0) event of a notification POST, for invoking the handler directly. */
export function notificationEvent(seeded: Seeded, size: number): Record<string, unknown> {
  const path = `/webhook/${seeded.integrationId}`;
  return {
    version: '2.0',
    routeKey: 'ANY /webhook/{integrationId}',
    rawPath: path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    requestContext: { http: { method: 'POST', path } },
    pathParameters: { integrationId: seeded.integrationId },
    body: freshBody(seeded, size),
    isBase64Encoded: false,
  };
}

/** Graph's validation handshake (`POST /webhook/contoso?validationToken=…`) as API Gateway's HTTP API delivers it. */
export const HANDSHAKE_EVENT = {
  version: '2.0',
  rawPath: '/webhook/contoso',
  rawQueryString: HANDSHAKE_QUERY,
  queryStringParameters: { validationToken: HANDSHAKE_TOKEN },
  requestContext: { http: { method: 'POST', path: '/webhook/contoso' } },
  pathParameters: { integrationId: 'contoso' },
  headers: {},
  isBase64Encoded: false,
} as const;

/** A problem with a 202 body for `size` fresh notifications, or undefined when all were published once. */
export function acceptedProblem(body: string, size: number): string | undefined {
  let counts: Record<string, unknown>;
  try {
    counts = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return `202 body is not JSON: ${body.slice(0, 200)}`;
  }
  const expected = { received: size, refused: 0, rejected: 0, duplicates: 0, published: size, unrouted: 0, events: size };
  const wrong = Object.entries(expected).filter(([key, value]) => counts[key] !== value);
  return wrong.length === 0 ? undefined : `expected ${JSON.stringify(expected)}, got ${body.slice(0, 300)}`;
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

export function destroyHttpAgent(): void {
  agent.destroy();
}

interface HttpAnswer {
  status: number;
  body: string;
  ms: number;
  /** `performance.now()` when the request was sent and when the answer was read. */
  sentAt: number;
  answeredAt: number;
}

/** An HTTP call over a kept-alive connection; `ms` spans sending the request to reading the whole answer. */
function call(method: string, url: string, body: string | undefined): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const sentAt = performance.now();
    const headers: Record<string, string | number> = { 'content-type': 'application/json' };
    if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
    const req = request(url, { method, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: elapsedMs(started), sentAt, answeredAt: performance.now() }));
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`no answer from ${url} within 30 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** POST over a kept-alive connection; `ms` spans sending the request to reading the whole answer. */
function post(url: string, body: string | undefined): Promise<HttpAnswer> {
  return call('POST', url, body);
}

/** The webhook request of one kind: the body is built before the clock starts. */
function sendWebhook(intakeUrl: string, seeded: Seeded, kind: 'handshake' | number): Promise<HttpAnswer> {
  const base = `${intakeUrl}/webhook/${seeded.integrationId}`;
  return kind === 'handshake' ? post(`${base}?${HANDSHAKE_QUERY}`, undefined) : post(base, freshBody(seeded, kind));
}

/** Throws unless the handshake echoed the token, or all `kind` fresh notifications were accepted and published once. */
function checkAnswer(seeded: Seeded, kind: 'handshake' | number, answer: HttpAnswer, where: string): void {
  if (kind === 'handshake') {
    if (answer.status !== 200 || answer.body !== HANDSHAKE_TOKEN) {
      throw new BenchAbortError(`${where}: handshake answered ${answer.status} ${JSON.stringify(answer.body.slice(0, 200))}; expected 200 "${HANDSHAKE_TOKEN}"`);
    }
    return;
  }
  if (answer.status !== 202) {
    throw new BenchAbortError(`${where}: ${kind} notification(s) to ${seeded.integrationId} answered ${answer.status} ${answer.body.slice(0, 300)}; expected 202`);
  }
  const problem = acceptedProblem(answer.body, kind);
  if (problem !== undefined) throw new BenchAbortError(`${where}: ${kind} notification(s) to ${seeded.integrationId}: ${problem}`);
}

export interface RequestSample {
  /** `handshake` (the floor) or the number of notifications. */
  kind: string;
  size: number;
  ms: number;
  /** DynamoDB calls per operation, from the counting proxy. */
  dynamodb: Record<string, number>;
  /** The same calls with timings, from the tracer. */
  traced: TracedCall[];
  readCalls: number;
  writeCalls: number;
  readRounds: number;
  writeRounds: number;
  /** EventBridge / Secrets Manager calls per operation, from the emulator. */
  emulator: Record<string, number>;
  putEvents: number;
  /** Events the intake reports it published. */
  events: number;
  /** The integration registry was read during this request (a Query beside its read round). */
  registryRead: boolean;
  /** Where the time went, from the client's and the tracer's clocks (requests with one read and one write round). */
  phases?: Phases;
}

/**
 * request sent → first DynamoDB read (HTTP, adapter, parse, verify, keys) → reads done → first write (build events,
 * PutEvents) → writes done → answer read (metrics, JSON, HTTP).
 */
export interface Phases {
  beforeRead: number;
  read: number;
  publish: number;
  write: number;
  afterWrite: number;
}

export const PHASE_NAMES: readonly (keyof Phases)[] = ['beforeRead', 'read', 'publish', 'write', 'afterWrite'];

function phasesOf(answer: HttpAnswer, traced: readonly TracedCall[]): Phases | undefined {
  const reads = traced.filter((c) => READ_OPERATIONS.has(c.operation));
  const writes = traced.filter((c) => WRITE_OPERATIONS.has(c.operation));
  if (reads.length === 0 || writes.length === 0 || countRounds(reads) !== 1 || countRounds(writes) !== 1) return undefined;
  const readStart = Math.min(...reads.map((c) => c.startMs));
  const readEnd = Math.max(...reads.map((c) => c.endMs));
  const writeStart = Math.min(...writes.map((c) => c.startMs));
  const writeEnd = Math.max(...writes.map((c) => c.endMs));
  return {
    beforeRead: readStart - answer.sentAt,
    read: readEnd - readStart,
    publish: writeStart - readEnd,
    write: writeEnd - writeStart,
    afterWrite: answer.answeredAt - writeEnd,
  };
}

/** Per-operation calls between two snapshots of a counter, zeros left out. */
export function delta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(after)) {
    const diff = value - (before[key] ?? 0);
    if (diff !== 0) out[key] = diff;
  }
  return out;
}

/** Runs `act` and attributes every DynamoDB and emulator call made meanwhile to it. */
export async function observeCalls<T>(
  instruments: Instruments,
  act: () => Promise<T>,
): Promise<{ value: T; dynamodb: Record<string, number>; emulator: Record<string, number>; traced: TracedCall[] }> {
  const { proxy, tracer, stack } = instruments;
  tracer.take();
  const ddbBefore = proxy.stats();
  const emuBefore = stack.emulator.stats();
  const value = await act();
  return { value, dynamodb: delta(proxy.stats(), ddbBefore), emulator: delta(stack.emulator.stats(), emuBefore), traced: tracer.take() };
}

export function callFigures(traced: readonly TracedCall[]): Pick<RequestSample, 'readCalls' | 'writeCalls' | 'readRounds' | 'writeRounds' | 'registryRead'> {
  const reads = traced.filter((c) => READ_OPERATIONS.has(c.operation));
  const writes = traced.filter((c) => WRITE_OPERATIONS.has(c.operation));
  return {
    readCalls: reads.length,
    writeCalls: writes.length,
    readRounds: countRounds(reads),
    writeRounds: countRounds(writes),
    registryRead: traced.some((c) => REGISTRY_READ_OPERATIONS.has(c.operation)),
  };
}

async function measureRequest(instruments: Instruments, seeded: Seeded, kind: 'handshake' | number): Promise<RequestSample> {
  const size = kind === 'handshake' ? 0 : kind;
  const observed = await observeCalls(instruments, () => sendWebhook(instruments.stack.url, seeded, kind));
  const answer = observed.value;
  checkAnswer(seeded, kind, answer, 'in-process stack');
  const events = kind === 'handshake' ? 0 : Number((JSON.parse(answer.body) as { events?: unknown }).events ?? 0);
  return {
    kind: String(kind),
    size,
    ms: answer.ms,
    dynamodb: observed.dynamodb,
    traced: observed.traced,
    emulator: observed.emulator,
    putEvents: observed.emulator['PutEvents'] ?? 0,
    events,
    ...callFigures(observed.traced),
    ...(kind === 'handshake' ? {} : { phases: phasesOf(answer, observed.traced) }),
  };
}

export interface KindResult {
  kind: string;
  size: number;
  latency: Summary;
  samples: RequestSample[];
}

export interface WarmResult {
  integrationId: string;
  tenants: number;
  requestsPerKind: number;
  warmupRounds: number;
  /** Wall time of the measured rounds: the registry is re-read every REGISTRY_REFRESH_SECONDS within it. */
  durationMs: number;
  kinds: KindResult[];
}

/** Sequential requests, kinds interleaved in rotating order: the handshake floor and each batch size. */
export async function runWarm(options: {
  instruments: Instruments;
  seeded: Seeded;
  sizes: readonly number[];
  requests: number;
  warmupRounds: number;
  /** Other measurements interleaved with the requests, once per round (after them); `record` false while warming up. */
  eachRound?: (record: boolean, round: number) => Promise<void>;
  log: (line: string) => void;
}): Promise<WarmResult> {
  const { instruments, seeded, sizes, requests, warmupRounds, log } = options;
  const kinds: ('handshake' | number)[] = ['handshake', ...sizes];
  const samples = new Map<string, RequestSample[]>(kinds.map((k) => [String(k), []]));
  let started = process.hrtime.bigint();
  for (let round = -warmupRounds; round < requests; round += 1) {
    if (round === 0) started = process.hrtime.bigint();
    const offset = ((round % kinds.length) + kinds.length) % kinds.length;
    for (const kind of [...kinds.slice(offset), ...kinds.slice(0, offset)]) {
      const sample = await measureRequest(instruments, seeded, kind);
      if (round >= 0) samples.get(String(kind))?.push(sample);
    }
    await options.eachRound?.(round >= 0, round);
    // The emulator keeps delivered events in memory for tests; the bench has checked the counts already.
    instruments.stack.emulator.clearEvents();
    if (round === -1) log(`warm: ${warmupRounds} warm-up rounds done`);
    if (round >= 0 && ((round + 1) % 50 === 0 || round + 1 === requests)) {
      const medians = kinds.map((k) => `${k === 'handshake' ? 'floor' : `${k}×`} ${median((samples.get(String(k)) ?? []).map((s) => s.ms)).toFixed(1)} ms`);
      log(`warm: ${round + 1}/${requests} rounds; p50 ${medians.join(', ')}`);
    }
  }
  return {
    integrationId: seeded.integrationId,
    tenants: seeded.tenants.length,
    requestsPerKind: requests,
    warmupRounds,
    durationMs: elapsedMs(started),
    kinds: kinds.map((k) => {
      const list = samples.get(String(k)) ?? [];
      return { kind: String(k), size: k === 'handshake' ? 0 : k, latency: summarize(list.map((s) => s.ms)), samples: list };
    }),
  };
}

export interface OutOfProcessKindResult {
  kind: string;
  size: number;
  latency: Summary;
  /** Every measured request, in order. */
  ms: number[];
}

export interface OutOfProcessWarmResult {
  /** How the stack ran: the command, and what it was given. */
  command: string;
  intakeUrl: string;
  pid: number;
  dynamodbEndpoint: string;
  integrationId: string;
  tenants: number;
  requestsPerKind: number;
  warmupRounds: number;
  kinds: OutOfProcessKindResult[];
  /** The child's emulator calls during the measured rounds (GET /_emulator/stats), and the PutEvents the answers imply. */
  emulatorCalls: Record<string, number>;
  expectedPutEvents: number;
}

/**
 * Warm latency against a local stack in another process (`npm start`), with no instrument in its path: the same
 * sequential requests in the same rotating order as runWarm, each answer checked. Call `round()` once per round;
 * between rounds it clears the child's in-memory event list over the emulator's control endpoint, as runWarm
 * does in process (outside the timed requests).
 */
export function createOutOfProcessWarm(options: {
  descriptor: LocalStackDescriptor;
  seeded: Seeded;
  sizes: readonly number[];
  command: string;
}): { round(record: boolean, round: number): Promise<void>; result(requests: number, warmupRounds: number): Promise<OutOfProcessWarmResult> } {
  const { descriptor, seeded } = options;
  const kinds: ('handshake' | number)[] = ['handshake', ...options.sizes];
  const samples = new Map<string, number[]>(kinds.map((k) => [String(k), []]));
  const emulator = descriptor.awsEmulatorEndpoint;
  let expectedPutEvents = 0;
  let statsReset = false;
  const control = async (method: string, path: string): Promise<string> => {
    const answer = await call(method, `${emulator}${path}`, undefined);
    if (answer.status !== 200) throw new BenchAbortError(`${method} ${emulator}${path} answered ${answer.status} ${answer.body.slice(0, 200)}`);
    return answer.body;
  };
  return {
    async round(record, round) {
      if (record && !statsReset) {
        await control('DELETE', '/_emulator/stats');
        statsReset = true;
      }
      const offset = ((round % kinds.length) + kinds.length) % kinds.length;
      for (const kind of [...kinds.slice(offset), ...kinds.slice(0, offset)]) {
        const answer = await sendWebhook(descriptor.intakeUrl, seeded, kind);
        checkAnswer(seeded, kind, answer, '`npm start` stack');
        if (!record) continue;
        samples.get(String(kind))?.push(answer.ms);
        if (kind !== 'handshake') expectedPutEvents += Math.ceil(kind / 10);
      }
      await control('DELETE', '/_emulator/events');
    },
    async result(requests, warmupRounds) {
      const emulatorCalls = statsReset ? (JSON.parse(await control('GET', '/_emulator/stats')) as Record<string, number>) : {};
      return {
        command: options.command,
        intakeUrl: descriptor.intakeUrl,
        pid: descriptor.pid,
        dynamodbEndpoint: descriptor.dynamodbEndpoint,
        integrationId: seeded.integrationId,
        tenants: seeded.tenants.length,
        requestsPerKind: requests,
        warmupRounds,
        kinds: kinds.map((k) => {
          const list = samples.get(String(k)) ?? [];
          return { kind: String(k), size: k === 'handshake' ? 0 : k, latency: summarize(list), ms: list };
        }),
        emulatorCalls,
        expectedPutEvents,
      };
    },
  };
}

export interface ColdCacheResult {
  perSize: number;
  kinds: KindResult[];
}

/** The first request to integrations never seen by this intake instance: the secret is read and the routes ride in the read round. */
export async function runColdCache(options: {
  instruments: Instruments;
  seeder: Seeder;
  sizes: readonly number[];
  perSize: number;
  tenants: number;
  log: (line: string) => void;
}): Promise<ColdCacheResult> {
  const { instruments, seeder, sizes, perSize, tenants, log } = options;
  const targets: { size: number; seeded: Seeded }[] = [];
  for (let k = 0; k < perSize; k += 1) {
    for (const size of sizes) targets.push({ size, seeded: await seeder.seed(`bench-cache-${size}-${k}`, tenants) });
  }
  log(`cold cache: seeded ${targets.length} integrations`);
  const samples = new Map<number, RequestSample[]>(sizes.map((s) => [s, []]));
  for (const { size, seeded } of targets) {
    const sample = await measureRequest(instruments, seeded, size);
    if ((sample.emulator['GetSecretValue'] ?? 0) === 0) throw new BenchAbortError(`first request to ${seeded.integrationId} did not read its secret: not a cold integration`);
    samples.get(size)?.push(sample);
    instruments.stack.emulator.clearEvents();
  }
  return {
    perSize,
    kinds: sizes.map((size) => {
      const list = samples.get(size) ?? [];
      return { kind: String(size), size, latency: summarize(list.map((s) => s.ms)), samples: list };
    }),
  };
}

/** Per-call cost of the two in-process proxies (tracer → counting proxy) that every DynamoDB call of the bench crosses. */
export async function measureProxyOverhead(options: {
  directEndpoint: string;
  proxiedEndpoint: string;
  region: string;
  tableName: string;
  calls: number;
}): Promise<{ directMs: Summary; proxiedMs: Summary; overheadP50Ms: number }> {
  const make = (endpoint: string) => new DynamoDBClient({ region: options.region, credentials: LOCAL_CREDENTIALS, endpoint });
  const direct = make(options.directEndpoint);
  const proxied = make(options.proxiedEndpoint);
  const command = () => new GetItemCommand({ TableName: options.tableName, Key: { pk: { S: 'INTEGRATIONS' }, sk: { S: 'INTEGRATION#none' } } });
  const directMs: number[] = [];
  const proxiedMs: number[] = [];
  try {
    for (let i = -20; i < options.calls; i += 1) {
      for (const [client, list] of i % 2 === 0 ? ([[direct, directMs], [proxied, proxiedMs]] as const) : ([[proxied, proxiedMs], [direct, directMs]] as const)) {
        const started = process.hrtime.bigint();
        await client.send(command());
        if (i >= 0) list.push(elapsedMs(started));
      }
    }
  } finally {
    direct.destroy();
    proxied.destroy();
  }
  return { directMs: summarize(directMs), proxiedMs: summarize(proxiedMs), overheadP50Ms: median(proxiedMs) - median(directMs) };
}

export interface CallsSummary {
  kind: string;
  size: number;
  requests: number;
  /** Requests during which the integration registry was read (its refresh, or a new integration's first request). */
  registryReads: number;
  /** Distinct DynamoDB call mixes, e.g. "BatchGetItem×1 BatchWriteItem×4", with how many requests had each. */
  mixes: { mix: string; requests: number }[];
  readCalls: { min: number; max: number };
  writeCalls: { min: number; max: number };
  readRoundsMax: number;
  writeRoundsMax: number;
  putEvents: { min: number; max: number };
  /** Requests whose PutEvents calls differ from ceil(events / 10). */
  putEventsOffTarget: number;
  getSecretValue: number;
  /** Requests where the counting proxy and the tracer disagree on the calls (should be 0). */
  countMismatches: number;
}

export function mixOf(calls: Record<string, number>): string {
  const entries = Object.entries(calls).sort(([a], [b]) => a.localeCompare(b));
  return entries.length === 0 ? 'none' : entries.map(([op, n]) => `${op}×${n}`).join(' ');
}

export function summarizeCalls(kind: string, size: number, samples: readonly RequestSample[]): CallsSummary {
  const mixes = new Map<string, number>();
  for (const s of samples) mixes.set(mixOf(s.dynamodb), (mixes.get(mixOf(s.dynamodb)) ?? 0) + 1);
  const range = (values: number[]) => ({ min: values.length === 0 ? 0 : Math.min(...values), max: values.length === 0 ? 0 : Math.max(...values) });
  const tracedMix = (s: RequestSample) => {
    const counts: Record<string, number> = {};
    for (const c of s.traced) counts[c.operation] = (counts[c.operation] ?? 0) + 1;
    return mixOf(counts);
  };
  return {
    kind,
    size,
    requests: samples.length,
    registryReads: samples.filter((s) => s.registryRead).length,
    mixes: [...mixes].map(([mix, requests]) => ({ mix, requests })).sort((a, b) => b.requests - a.requests),
    readCalls: range(samples.map((s) => s.readCalls)),
    writeCalls: range(samples.map((s) => s.writeCalls)),
    readRoundsMax: Math.max(0, ...samples.map((s) => s.readRounds)),
    writeRoundsMax: Math.max(0, ...samples.map((s) => s.writeRounds)),
    putEvents: range(samples.map((s) => s.putEvents)),
    putEventsOffTarget: samples.filter((s) => s.putEvents !== Math.ceil(s.events / 10)).length,
    getSecretValue: samples.reduce((sum, s) => sum + (s.emulator['GetSecretValue'] ?? 0), 0),
    countMismatches: samples.filter((s) => tracedMix(s) !== mixOf(s.dynamodb)).length,
  };
}
