/**
 * What a hostile request costs the running stack, measured from outside it: the log bytes and lines it writes, the
 * size of its answer, and the Secrets Manager and DynamoDB reads it causes. Batches of 1 MB bodies (junk items to a
 * known integration and to made-up ids, well-formed notifications with a wrong clientState, wrong per-tenant
 * clientStates) and a run of small POSTs to made-up integration ids.
 *
 * A batch's log is what the stack writes between two pairs of sentinel requests: one that logs on stdout (INFO) and
 * one that logs on stderr (WARN), each found by its own request id. Every line the stack writes on either stream in
 * between counts (the local adapter's access line of each request included), but other functions' lines: the
 * lifecycle function may still be retrying an event of an earlier phase.
 */
import { randomUUID } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { INTAKE_DEFAULTS } from '../../shared/config/intake-config';
import { tenantClientState } from '../../shared/graph/client-state';
import { fail, type HostileTally } from './hostile-checks';
import type { ReliabilityStack } from './harness';
import type { Figure } from './report';

/**
 * Log bytes a hostile request may cost on average. A request writes at most one line, a summary with at most five
 * notes (a few hundred bytes), and a refused one is reported once per window and bucket, so the average of a refused
 * batch tends to a few bytes; 1 KB is one bounded line per request. Writing anything per item fails it by orders of
 * magnitude (the intake before 7da99bb wrote about 155 MB for one 1 MB body of junk items).
 */
export const MAX_LOG_BYTES_PER_REQUEST = 1024;
/**
 * Bytes of an answer (status line, headers, body) to a hostile request. The refusal is about 110 bytes of body; the
 * largest documented answer, a 400 listing five refusals of at most 200 characters, stays near 1.3 KB with its
 * headers. An answer that lists every refused item of a 1 MB body is megabytes.
 */
export const MAX_ANSWER_BYTES = 2048;

/** Bodies "just under the limit": room left for nothing more than another item. */
const BODY_BYTES = INTAKE_DEFAULTS.maxBodyBytes - 64;
const APP_TENANT_A = '5f0c7a4e-3b1d-4c2e-9a8f-1e2d3c4b5a69';
const APP_TENANT_B = 'a7e3c1d5-9f2b-4e6a-8c0d-2b4f6a8c0e13';
/** How long the sentinels may take to be logged and seen (a new integration within one registry refresh): a wait, never an assertion. */
const SENTINEL_WAIT_MS = 30_000;

export interface CostAnswer {
  status: number;
  contentType: string;
  body: string;
  /** Status line, headers and body, as they were on the wire. */
  bytes: number;
}

/** `{"value":[...]}` with as many items as fit in `limit` bytes (items are ASCII). */
export function fillBody(limit: number, itemOf: (index: number) => string): Buffer {
  const parts: string[] = [];
  let size = '{"value":[]}'.length;
  for (let i = 0; ; i += 1) {
    const item = itemOf(i);
    const added = item.length + (i === 0 ? 0 : 1);
    if (size + added > limit) break;
    parts.push(item);
    size += added;
  }
  return Buffer.from(`{"value":[${parts.join(',')}]}`, 'utf8');
}

/** The intake's Powertools service name: its JSON lines are the ones whose number the refusal tally bounds. */
const INTAKE_SERVICE = 'graph-relay-intake';

export interface LogWindow {
  /** Bytes of every line but other functions' (the local access log included). */
  bytes: number;
  /** The intake's own JSON lines. */
  intakeLines: number;
  /** Bytes of other functions' JSON lines (e.g. the lifecycle function retrying an earlier event), left out. */
  otherBytes: number;
}

/**
 * What one stream holds between the sentinels: after the last line holding a `from` id, before the first line (after
 * that) holding a `to` id. Lines of other functions (JSON with another `service`) cannot be caused by a webhook
 * request and are left out; every other line counts. Undefined when either end is missing.
 */
export function logBetween(text: string, from: readonly string[], to: readonly string[]): LogWindow | undefined {
  let start = -1;
  for (const id of from) {
    const at = text.indexOf(id);
    if (at === -1) continue;
    const end = text.indexOf('\n', at);
    start = Math.max(start, end === -1 ? text.length : end + 1);
  }
  if (start === -1) return undefined;
  let stop = -1;
  for (const id of to) {
    const at = text.indexOf(id, start);
    if (at === -1) continue;
    const lineStart = text.lastIndexOf('\n', at) + 1;
    stop = stop === -1 ? lineStart : Math.min(stop, lineStart);
  }
  if (stop === -1 || stop < start) return undefined;
  const window: LogWindow = { bytes: 0, intakeLines: 0, otherBytes: 0 };
  for (const line of text.slice(start, stop).split('\n')) {
    if (line.trim() === '') continue;
    const bytes = Buffer.byteLength(line, 'utf8') + 1;
    const service = serviceOf(line);
    if (service !== undefined && service !== INTAKE_SERVICE) {
      window.otherBytes += bytes;
      continue;
    }
    window.bytes += bytes;
    if (service === INTAKE_SERVICE) window.intakeLines += 1;
  }
  return window;
}

/** The `service` of a Powertools JSON line, or undefined for any other line. */
function serviceOf(line: string): string | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const service = (JSON.parse(line) as { service?: unknown }).service;
    return typeof service === 'string' ? service : undefined;
  } catch {
    return undefined;
  }
}

/** DynamoDB operations that read items. */
const READS = ['GetItem', 'BatchGetItem', 'Query', 'Scan'] as const;

function difference(after: Record<string, number>, before: Record<string, number>, name: string): number {
  return (after[name] ?? 0) - (before[name] ?? 0);
}

interface Measured {
  name: string;
  requests: number;
  seconds: number;
  logBytes: number;
  logLines: number;
  secretReads: number;
  dynamodb: Record<(typeof READS)[number], number>;
  answers: CostAnswer[];
}

export async function measureHostileCost(input: {
  tally: HostileTally;
  stack: ReliabilityStack;
  requestsPerBatch: number;
  madeUpIds: number;
  log: (line: string) => void;
  registerSecret: (value: string, label: string) => void;
}): Promise<Figure[]> {
  const { tally, stack, log, requestsPerBatch } = input;
  const suffix = randomUUID().slice(0, 8);
  const integrationId = `hostile-cost-${suffix}`;
  const secret = `hostile-cost-secret-${randomUUID()}`;
  await stack.store.putIntegration({ integrationId, provider: 'microsoft-oauth2-cc' });
  await stack.putSecret(integrationId, { webhookSecret: secret });
  await stack.store.addConnection({ integrationId, connectionId: 'cost-a', tenantId: APP_TENANT_A });
  const secrets = [secret];

  const url = new URL(stack.url);
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const send = (path: string, body: Buffer, headers: Record<string, string> = {}): Promise<CostAnswer> =>
    new Promise((resolve, reject) => {
      const req = httpRequest(
        { host: url.hostname, port: url.port, method: 'POST', path, agent, headers: { 'content-type': 'application/json', 'content-length': String(body.length), ...headers } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            const content = Buffer.concat(chunks);
            let head = `HTTP/${res.httpVersion} ${res.statusCode ?? 0} ${res.statusMessage ?? ''}\r\n`;
            for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) head += `${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}\r\n`;
            resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), body: content.toString('utf8'), bytes: Buffer.byteLength(`${head}\r\n`) + content.length });
          });
        },
      );
      req.setTimeout(120_000, () => req.destroy(new Error(`no answer to POST ${path.slice(0, 60)}`)));
      req.on('error', reject);
      req.end(body);
    });

  // Sentinels: a redelivered valid notification (202, one INFO line on stdout; published the first time only) and an
  // item with the secret but no changeType (400, one WARN line on stderr). Each line carries its request id.
  const webhook = `/webhook/${integrationId}`;
  const validItem = { subscriptionId: randomUUID(), subscriptionExpirationDateTime: '2030-01-01T00:00:00Z', tenantId: APP_TENANT_A, clientState: secret, changeType: 'updated', resource: `cost/${suffix}` };
  const infoBody = Buffer.from(JSON.stringify({ value: [validItem] }));
  const warnBody = Buffer.from(JSON.stringify({ value: [{ subscriptionId: randomUUID(), tenantId: APP_TENANT_A, clientState: secret }] }));
  // A new integration is seen within one registry refresh.
  const known = Date.now();
  for (let answer = await send(webhook, infoBody); answer.status !== 202; answer = await send(webhook, infoBody)) {
    if (answer.status !== 403 || Date.now() - known > SENTINEL_WAIT_MS) throw new Error(`hostile cost: the sentinel was answered ${answer.status} ${answer.body.slice(0, 200)}`);
    await sleep(250);
  }

  async function sentinels(tag: string): Promise<string[]> {
    // Graph's request-id syntax (at most 64 characters), or the intake logs another id.
    const ids = [`sentinel-${randomUUID()}`, `sentinel-${randomUUID()}`];
    const [infoId = '', warnId = ''] = ids;
    const info = await send(webhook, infoBody, { 'client-request-id': infoId });
    const warn = await send(webhook, warnBody, { 'client-request-id': warnId });
    if (info.status !== 202 || warn.status !== 400) throw new Error(`hostile cost: sentinels answered ${info.status} and ${warn.status}`);
    const started = Date.now();
    const seen = () => ids.every((id) => stack.outputOf('stdout').includes(id) || stack.outputOf('stderr').includes(id));
    while (!seen()) {
      if (Date.now() - started > SENTINEL_WAIT_MS) throw new Error(`hostile cost: the stack did not log the sentinels ${tag} (is POWERTOOLS_LOG_LEVEL below INFO?)`);
      await sleep(20);
    }
    return ids;
  }

  /** Waits until nothing else (a previous phase's lifecycle work, a refresh) is reading: a wait, not a check. */
  async function settle(): Promise<void> {
    let before = JSON.stringify([await stack.emulatorStats(), stack.dynamodbStats()]);
    for (let quiet = 0, polls = 0; quiet < 2 && polls < 40; polls += 1) {
      await sleep(500);
      const now = JSON.stringify([await stack.emulatorStats(), stack.dynamodbStats()]);
      quiet = now === before ? quiet + 1 : 0;
      before = now;
    }
  }

  async function measure(name: string, requests: number, run: (index: number) => Promise<CostAnswer>, concurrency = 1): Promise<Measured> {
    const tag = name.replace(/[^a-z0-9]+/gi, '-').slice(0, 24);
    const from = await sentinels(`${tag}-start`);
    const emulatorBefore = await stack.emulatorStats();
    const dynamodbBefore = stack.dynamodbStats();
    const started = performance.now();
    const answers: CostAnswer[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < requests) {
          const index = next;
          next += 1;
          answers.push(await run(index));
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const emulatorAfter = await stack.emulatorStats();
    const dynamodbAfter = stack.dynamodbStats();
    const to = await sentinels(`${tag}-end`);
    let logBytes = 0;
    let logLines = 0;
    let otherBytes = 0;
    for (const stream of ['stdout', 'stderr'] as const) {
      // Each stream needs a sentinel line at both ends, or its lines could not be told apart from other batches'.
      const window = logBetween(stack.outputOf(stream), from, to);
      if (window === undefined) throw new Error(`hostile cost: ${name}: no sentinel line bounds the batch on ${stream} (INFO is expected on stdout, WARN on stderr)`);
      logBytes += window.bytes;
      logLines += window.intakeLines;
      otherBytes += window.otherBytes;
    }
    for (const [i, answer] of answers.entries()) {
      tally.inputs += 1;
      tally.statuses.set(answer.status, (tally.statuses.get(answer.status) ?? 0) + 1);
      if (answer.status !== 403) fail(tally, 'unexpected', `hostile cost: ${name} #${i}: expected 403, got ${answer.status} ${answer.body.slice(0, 200)}`, secrets);
      if (secrets.some((s) => answer.body.includes(s))) fail(tally, 'secretEchoed', `hostile cost: ${name} #${i}: the answer carries a secret`, secrets);
    }
    const dynamodb = Object.fromEntries(READS.map((op) => [op, difference(dynamodbAfter, dynamodbBefore, op)])) as Measured['dynamodb'];
    const measured: Measured = { name, requests, seconds, logBytes, logLines, secretReads: difference(emulatorAfter, emulatorBefore, 'GetSecretValue'), dynamodb, answers };
    log(
      `hostile cost: ${name}: ${requests} requests in ${seconds.toFixed(1)} s, ${logBytes} log bytes (${logLines} intake lines; ${otherBytes} bytes of other functions left out), largest answer ${Math.max(0, ...answers.map((a) => a.bytes))} bytes, ` +
        `GetSecretValue ${measured.secretReads}, DynamoDB ${READS.map((op) => `${op} ${dynamodb[op]}`).join(' ')}`,
    );
    return measured;
  }

  const forgedItem = (i: number, clientState: string, tenantId = APP_TENANT_A) =>
    JSON.stringify({ subscriptionId: randomUUID(), subscriptionExpirationDateTime: '2030-01-01T00:00:00Z', tenantId, clientState, changeType: 'updated', resource: `Users/${i}`, resourceData: { id: String(i) } });
  const junk = fillBody(BODY_BYTES, () => '0');
  // As long as the secret, as random-looking: only its value is wrong.
  const wrongSecret = `hostile-cost-secret-${randomUUID()}`;
  const wrongClientState = fillBody(BODY_BYTES, (i) => forgedItem(i, wrongSecret));
  // Well-formed per-tenant values: half made with another secret, half the real value of tenant A on tenant B's items.
  const tenantAValue = tenantClientState(secret, integrationId, APP_TENANT_A);
  input.registerSecret(tenantAValue, `per-tenant clientState of ${integrationId}`);
  const wrongTenantValue = tenantClientState(wrongSecret, integrationId, APP_TENANT_A);
  const wrongPerTenant = fillBody(BODY_BYTES, (i) => (i % 2 === 0 ? forgedItem(i, wrongTenantValue) : forgedItem(i, tenantAValue, APP_TENANT_B)));
  const madeUp = () => `/webhook/made-up-${randomUUID()}`;

  const batches = [
    await measure('1 MB of junk items to a known integration', requestsPerBatch, () => send(webhook, junk)),
    await measure('1 MB of junk items to made-up ids', requestsPerBatch, () => send(madeUp(), junk)),
    await measure('1 MB of notifications with a wrong clientState', requestsPerBatch, () => send(webhook, wrongClientState)),
    await measure('1 MB of notifications with wrong per-tenant clientStates', requestsPerBatch, () => send(webhook, wrongPerTenant)),
  ];
  await settle();
  // The real secret as clientState: an id that does not exist must cost nothing even for the right value.
  const small = Buffer.from(JSON.stringify({ value: [JSON.parse(forgedItem(0, secret)) as unknown] }));
  const madeUpRun = await measure(`${input.madeUpIds} small POSTs to made-up ids`, input.madeUpIds, () => send(madeUp(), small), 4);
  agent.destroy();

  const all = [...batches, madeUpRun];
  const distinct = new Set(all.flatMap((m) => m.answers.map((a) => `${a.status}\n${a.contentType}\n${a.body}`)));
  const refusalWindow = INTAKE_DEFAULTS.refusalReportSeconds;
  // Each batch refuses into one bucket: at most one report when it starts and one per window it lasts.
  const allowedLines = all.reduce((sum, m) => sum + Math.floor(m.seconds / refusalWindow) + 1, 0);
  const registryReads = Math.floor(madeUpRun.seconds / stack.registryMinRefreshSeconds) + 1;
  const itemReads = madeUpRun.dynamodb.GetItem + madeUpRun.dynamodb.BatchGetItem + madeUpRun.dynamodb.Scan;
  const figure = (name: string, value: number, unit: string, kind: Figure['kind'], threshold?: number): Figure => ({
    phase: 'hostile',
    name,
    value,
    unit,
    kind,
    ...(threshold === undefined ? {} : { threshold }),
  });
  return [
    ...all.map((m) => figure(`log per request: ${m.name}`, m.logBytes / m.requests, 'bytes', 'max', MAX_LOG_BYTES_PER_REQUEST)),
    figure(`intake log lines for ${all.reduce((sum, m) => sum + m.requests, 0)} refused requests (≤ one per bucket and ${refusalWindow} s window)`, all.reduce((sum, m) => sum + m.logLines, 0), '', 'max', allowedLines),
    figure('largest answer to a hostile request (status line, headers, body)', Math.max(0, ...all.flatMap((m) => m.answers.map((a) => a.bytes))), 'bytes', 'max', MAX_ANSWER_BYTES),
    figure('distinct answers to unknown ids and refused clientStates (status, content-type, body)', distinct.size, '', 'max', 1),
    figure(`Secrets Manager reads for ${madeUpRun.requests} POSTs to made-up ids`, madeUpRun.secretReads, '', 'max', 0),
    figure(`DynamoDB GetItem, BatchGetItem and Scan for ${madeUpRun.requests} POSTs to made-up ids`, itemReads, '', 'max', 0),
    figure(`DynamoDB Query (registry reads, ≤ 1 per ${stack.registryMinRefreshSeconds} s + 1) for POSTs to made-up ids in ${madeUpRun.seconds.toFixed(1)} s`, madeUpRun.dynamodb.Query, '', 'max', registryReads),
    figure('DynamoDB and Secrets Manager reads per POST to a made-up id', (itemReads + madeUpRun.dynamodb.Query + madeUpRun.secretReads) / madeUpRun.requests, '', 'report'),
  ];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
