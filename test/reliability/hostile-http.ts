/**
 * The HTTP layer of the hostile phase, against the stack `npm start` runs: crafted requests (forged clientStates,
 * another tenant's subscription, `<script>` and CRLF in validation tokens and headers, path injection, wrong
 * methods and content types, invalid UTF-8, NUL bytes, deep nesting, bodies over the limits, thousands of items)
 * and a sample of the fuzzer's bodies and tokens. Every answer is checked (no 5xx, no reflected header, no secret
 * echoed, the handshake exact); at the end every event on the bus for the phase's integrations is checked against
 * what was legitimately sent (nothing forged, nothing routed to another tenant's connection).
 */
import { randomUUID } from 'node:crypto';
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as fc from 'fast-check';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { DynamoDbSubscriptionsStore } from '../../shared/store/subscriptions-store';
import { deeplyNested, hostileToken, NASTY_STRINGS, wireBody, wireBytes, type HostileFixture } from './hostile-arbitraries';
import { checkPublished, fail, handshakeProblem, headerProblem, publishableKeys, type HostileTally, type PublishedDetail } from './hostile-checks';
import type { ReliabilityStack } from './harness';

const APP_ID = '6b0e2a4c-1d3f-4e5a-8b7c-9d0e1f2a3b4c';
/** Node's default limit on the request line and headers: a longer handshake URL is refused (431) before the intake. */
const MAX_URL_FOR_HANDSHAKE_CHECK = 8_000;

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface HttpSummary {
  requests: number;
  /** Requests the server closed without an answer (e.g. a body over the adapter's 10 MB limit still being sent). */
  unanswered: number;
  forgedItemsSent: number;
  /** Items sent with the secret in POSTs answered 202: each must be on the bus. */
  publishable: number;
  /** Of those, how many are on the bus. */
  published: number;
  eventsChecked: number;
}

export async function runOverHttp(input: {
  tally: HostileTally;
  stack: ReliabilityStack;
  samples: number;
  log: (line: string) => void;
  registerSecret: (value: string, label: string) => void;
}): Promise<HttpSummary> {
  const { tally, stack, log } = input;
  const suffix = randomUUID().slice(0, 8);
  const integrationId = `hostile-${suffix}`;
  const otherId = `hostile-other-${suffix}`;
  const secret = `hostile-secret-${randomUUID()}`;
  const otherSecret = `hostile-other-secret-${randomUUID()}`;
  const secrets = [secret, otherSecret];
  const tenantA = randomUUID();
  const tenantB = randomUUID();
  const [subA, subB, subMixed] = [randomUUID(), randomUUID(), randomUUID()] as [string, string, string];
  const connections: Record<string, string[]> = { [tenantA]: ['ha-1', 'ha-2'], [tenantB]: ['hb-1'] };
  /** The tenant each subscription record below names: an item naming no tenant takes it. */
  const recordedTenants: Record<string, string> = { [subA]: tenantA, [subB]: tenantB, [subMixed]: tenantA };

  await stack.clearFaults();
  await stack.store.putIntegration({ integrationId, provider: 'microsoft-oauth2-cc' });
  await stack.store.putIntegration({ integrationId: otherId, provider: 'microsoft-oauth2-cc' });
  await stack.putSecret(integrationId, { webhookSecret: secret, clientId: APP_ID, clientSecret: `hostile-client-secret-${randomUUID()}` });
  await stack.putSecret(otherId, { webhookSecret: otherSecret });
  for (const [tenantId, ids] of Object.entries(connections)) for (const connectionId of ids) await stack.store.addConnection({ integrationId, connectionId, tenantId });
  await stack.store.addConnection({ integrationId: otherId, connectionId: 'ox-1', tenantId: tenantA });
  const ddb = new DynamoDBClient({ region: stack.descriptor.region, credentials: LOCAL_CREDENTIALS, endpoint: stack.descriptor.dynamodbEndpoint, maxAttempts: 10 });
  try {
    const subscriptions = new DynamoDbSubscriptionsStore(DynamoDBDocumentClient.from(ddb), stack.descriptor.connectionsTable);
    const record = (subscriptionId: string, connectionId: string, tenantId: string) =>
      // `failed`: kept out of the renewal index, still used for routing.
      subscriptions.put({ integrationId, subscriptionId, connectionId, tenantId, resource: 'users', changeTypes: ['updated'], expiresAt: '2030-01-01T00:00:00.000Z', status: 'failed' });
    await record(subA, 'ha-1', tenantA);
    await record(subB, 'hb-1', tenantB);
    // A record claiming tenant A for tenant B's connection: routing must still never cross tenants.
    await record(subMixed, 'hb-1', tenantA);
  } finally {
    ddb.destroy();
  }

  const fixture: HostileFixture = { integrationId, secret, otherSecret, tenants: [tenantA, tenantB], subscriptionIds: [subA, subB, subMixed] };
  const url = new URL(stack.url);
  const agent = new Agent({ keepAlive: true, maxSockets: 6 });
  const publishable = new Set<string>();
  const expected = new Set<string>();
  const timings: [string, number][] = [];
  let lastCheck = performance.now();
  const summary: HttpSummary = { requests: 0, unanswered: 0, forgedItemsSent: 0, publishable: 0, published: 0, eventsChecked: 0 };
  const webhook = `/webhook/${integrationId}`;

  /** `fresh`: on a connection of its own, closed after (a body the server stops reading leaves its socket unusable). */
  function send(method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}, fresh = false): Promise<Answer | undefined> {
    tally.inputs += 1;
    summary.requests += 1;
    const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
    return new Promise((resolve) => {
      let settled = false;
      const done = (answer: Answer | undefined) => {
        if (settled) return;
        settled = true;
        if (answer === undefined) summary.unanswered += 1;
        resolve(answer);
      };
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          method,
          path,
          agent: fresh ? false : agent,
          headers: { 'content-type': 'application/json', ...(fresh ? { connection: 'close' } : {}), ...(payload === undefined ? {} : { 'content-length': String(payload.length) }), ...headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', () => done(undefined));
        },
      );
      req.setTimeout(60_000, () => req.destroy());
      req.on('error', () => done(undefined));
      req.end(payload);
    });
  }

  /** Bytes written as they are on a socket: request lines and headers no HTTP client would send. */
  function sendRaw(bytes: Buffer): Promise<Answer | undefined> {
    tally.inputs += 1;
    summary.requests += 1;
    return new Promise((resolve) => {
      const socket = connect({ host: url.hostname, port: Number(url.port) });
      const chunks: Buffer[] = [];
      let settled = false;
      const done = () => {
        if (settled) return;
        settled = true;
        const text = Buffer.concat(chunks).toString('latin1');
        const match = /^HTTP\/1\.[01] (\d{3})/.exec(text);
        if (match === null) {
          summary.unanswered += 1;
          resolve(undefined);
          return;
        }
        const [head = '', ...rest] = text.split('\r\n\r\n');
        const headers: IncomingHttpHeaders = {};
        for (const line of head.split('\r\n').slice(1)) {
          const at = line.indexOf(':');
          if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
        }
        resolve({ status: Number(match[1]), headers, body: Buffer.from(rest.join('\r\n\r\n'), 'latin1').toString('utf8') });
      };
      socket.setTimeout(15_000, () => socket.destroy());
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('close', done);
      socket.on('error', () => undefined);
      socket.end(bytes);
    });
  }

  /** The checks every answer goes through; `expect` makes a crafted case precise. */
  function check(label: string, answer: Answer | undefined, expect?: number | readonly number[]): void {
    const now = performance.now();
    timings.push([label, now - lastCheck]);
    lastCheck = now;
    if (answer === undefined) return;
    tally.statuses.set(answer.status, (tally.statuses.get(answer.status) ?? 0) + 1);
    if (answer.status >= 500) fail(tally, 'serverErrors', `${label}: ${answer.status} ${answer.body}`, secrets);
    const header = headerProblem(answer.headers as Record<string, string | string[] | undefined>);
    if (header !== undefined) fail(tally, 'reflected', `${label}: ${header}`, secrets);
    if (secrets.some((s) => answer.body.includes(s))) fail(tally, 'secretEchoed', `${label}: the answer carries a secret`, secrets);
    const expected = expect === undefined ? undefined : typeof expect === 'number' ? [expect] : expect;
    if (expected !== undefined && !expected.includes(answer.status) && answer.status < 500) {
      fail(tally, 'unexpected', `${label}: expected ${expected.join(' or ')}, got ${answer.status} ${answer.body.slice(0, 200)}`, secrets);
    }
  }

  /** A POST to the integration's webhook whose legitimately publishable items are remembered for the final check. */
  async function post(
    label: string,
    body: Buffer | string,
    options: { path?: string; method?: string; headers?: Record<string, string>; expect?: number | readonly number[]; legit?: boolean; fresh?: boolean } = {},
  ): Promise<Answer | undefined> {
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
    const text = bytes.toString('utf8');
    // Allowed on the bus whatever the answer; expected on it when the answer was 202.
    const keys = options.legit === false ? new Set<string>() : publishableKeys(integrationId, text, secret, (id) => recordedTenants[id]);
    for (const key of keys) publishable.add(key);
    summary.forgedItemsSent += forgedItemsIn(text, secret);
    const answer = await send(options.method ?? 'POST', options.path ?? webhook, bytes, options.headers, options.fresh);
    check(label, answer, options.expect);
    if (answer?.status === 202) for (const key of keys) expected.add(key);
    return answer;
  }

  async function handshake(label: string, token: string, options: { path?: string; method?: string } = {}): Promise<void> {
    const query = new URLSearchParams({ validationToken: token }).toString();
    const path = `${options.path ?? webhook}?${query}`;
    const answer = await send(options.method ?? 'POST', path);
    check(label, answer);
    if (answer === undefined || path.length > MAX_URL_FOR_HANDSHAKE_CHECK || (options.method ?? 'POST') !== 'POST') return;
    const problem = handshakeProblem(token, { status: answer.status, contentType: answer.headers['content-type'], nosniff: answer.headers['x-content-type-options'] as string | undefined, body: answer.body });
    if (problem !== undefined) fail(tally, 'handshakeWrong', `${label}: ${problem}`, secrets);
  }

  const item = (overrides: Record<string, unknown> = {}) => ({
    subscriptionId: subA,
    tenantId: tenantA,
    subscriptionExpirationDateTime: '2030-01-01T00:00:00Z',
    changeType: 'updated',
    clientState: secret,
    resource: `hostile/${randomUUID()}`,
    ...overrides,
  });
  const forged = (overrides: Record<string, unknown> = {}) => item({ clientState: `forged-${randomUUID()}`, ...overrides });

  // --- Handshake: markup, CRLF, NUL, `+`, empty, huge; wrong methods are not handshakes.
  let crafted = 0;
  for (const token of [...NASTY_STRINGS, 'a+b c', '<script>alert(document.cookie)</script>', 'x'.repeat(4_000)]) {
    crafted += 1;
    await handshake(`handshake ${JSON.stringify(token).slice(0, 40)}`, token);
  }
  for (const method of ['GET', 'PUT', 'DELETE', 'OPTIONS', 'HEAD']) {
    crafted += 1;
    await handshake(`handshake by ${method}`, 'token-by-another-method', { method });
  }
  // A form-encoded `+` is a space; a raw CRLF in the request line never reaches the intake.
  crafted += 2;
  const plus = await send('POST', `${webhook}?validationToken=a+b%2Bc`);
  check('handshake with +', plus, 200);
  if (plus !== undefined && plus.body !== 'a b+c') fail(tally, 'handshakeWrong', `handshake with +: ${JSON.stringify(plus.body)}`, secrets);
  // Node reads the line up to the CR as the request (HTTP/0.9 style) or refuses it; either way no Set-Cookie comes back.
  const split = await sendRaw(Buffer.from(`POST ${webhook}?validationToken=a\r\nSet-Cookie: x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
  check('raw CRLF in the request line', split, [200, 400]);
  if (split !== undefined && (split.headers['set-cookie'] !== undefined || (split.status === 200 && split.body !== 'a'))) fail(tally, 'reflected', 'raw CRLF in the request line: injected', secrets);

  // --- Headers: markup, CRLF (as raw bytes: clients refuse them), NUL, huge, many.
  const validBody = () => JSON.stringify({ value: [item()] });
  for (const [name, value] of [
    ['client-request-id', '<script>alert(1)</script>'],
    ['client-request-id', 'x'.repeat(8_000)],
    ['request-id', '../../etc/passwd'],
    ['x-forwarded-for', '127.0.0.1, <script>'],
    ['content-type', 'application/json; charset=utf-16'],
    ['content-type', 'text/xml'],
    ['content-type', 'multipart/form-data; boundary=x'],
    ['content-type', 'application/x-www-form-urlencoded'],
    ['content-type', 'application/octet-stream'],
    ['content-type', ''],
    ['content-encoding', 'gzip'],
    ['transfer-encoding', 'identity'],
  ] as const) {
    crafted += 1;
    await post(`header ${name}: ${value.slice(0, 30)}`, validBody(), { headers: { [name]: value }, expect: [202, 400, 413] });
  }
  crafted += 1;
  await post('100 extra headers', validBody(), { headers: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`x-hostile-${i}`, `<v${i}>`])), expect: 202 });
  const rawPost = (extraHeaders: string, body: string, target = webhook) =>
    Buffer.from(`POST ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${extraHeaders}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  for (const [label, headers] of [
    ['CRLF-injected second header', 'client-request-id: abc\r\nX-Injected: 1\r\n'],
    ['NUL in a header', 'client-request-id: a\u0000b\r\n'],
    ['obs-fold header', 'client-request-id: a\r\n b\r\n'],
    ['header without a name', ': empty\r\n'],
    ['two Content-Length headers', 'Content-Length: 5\r\n'],
    ['Transfer-Encoding with Content-Length', 'Transfer-Encoding: chunked\r\n'],
  ] as const) {
    crafted += 1;
    const answer = await sendRaw(rawPost(headers, JSON.stringify({ value: [forged()] })));
    check(`raw: ${label}`, answer, [400, 403]);
    if (answer !== undefined && Object.keys(answer.headers).some((h) => h.startsWith('x-injected'))) fail(tally, 'reflected', `raw: ${label}: header reflected`, secrets);
  }

  // --- Paths: traversal, NUL, encoded slashes, very long ids, unicode, absolute-form and malformed targets.
  const nastyPaths = [
    `/webhook/..%2F..%2Fetc%2Fpasswd`,
    `/webhook/${integrationId}%2F..%2F${otherId}`,
    `/webhook/${integrationId}%00`,
    `/webhook/%00${integrationId}`,
    `/webhook/${integrationId}/../${otherId}`,
    `/webhook/${integrationId}/x`,
    `/webhook/${integrationId}%2F`,
    `/webhook/${encodeURIComponent(`${integrationId}\r\n`)}`,
    `/webhook/${'a'.repeat(5_000)}`,
    `/webhook/ünïcödé-${suffix}`,
    `/webhook/%E0%A4%A`,
    `/webhook/%`,
    `/webhook/__proto__`,
    `/webhook/constructor`,
    `/webhook//${integrationId}`,
    `/webhook`,
    `/`,
    `/healthz/../webhook/${integrationId}x`,
  ];
  for (const path of nastyPaths) {
    crafted += 1;
    // With the real secret: none of these paths is the integration's webhook, so nothing may be published.
    // (`..` is resolved by URL parsing, so `/webhook/<id>/../<other>` is the other integration's webhook: 403.)
    await post(`path ${path.slice(0, 60)}`, validBody(), { path, legit: false, expect: [400, 403, 404] });
  }
  for (const [label, target] of [
    ['absolute-form target', `http://evil.example${webhook}`],
    ['malformed absolute target', 'http://['],
    ['asterisk target', '*'],
    ['scheme-relative target', `//evil.example${webhook}`],
    ['raw unicode target', `/webhook/ünïcödé`],
    ['raw space in target', `/webhook/a b`],
  ] as const) {
    crafted += 1;
    check(`raw: ${label}`, await sendRaw(rawPost('', JSON.stringify({ value: [forged()] }), target)), [400, 403, 404]);
  }

  // --- Methods.
  for (const method of ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE']) {
    crafted += 1;
    await post(`method ${method}`, validBody(), { method, expect: 405, legit: false });
  }
  crafted += 2;
  check('raw: unknown method', await sendRaw(Buffer.from(rawPost('', '{}').toString().replace(/^POST/, 'FOO'))), 400);
  check('raw: lower-case method', await sendRaw(Buffer.from(rawPost('', '{}').toString().replace(/^POST/, 'post'))), [400, 405]);

  // --- Bodies: invalid UTF-8, NUL, BOM, deep nesting, the limits, thousands of items, malformed chunking.
  const badBytes: [string, Buffer][] = [
    ['invalid UTF-8', Buffer.concat([Buffer.from('{"value":[{"subscriptionId":"'), Buffer.from([0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80]), Buffer.from(`","tenantId":"${tenantA}","changeType":"created","clientState":"forged-utf8"}]}`)])],
    ['NUL bytes', Buffer.from(`{"value":[${JSON.stringify(forged({ resource: 'a\u0000b' }))}]}\u0000\u0000`)],
    ['only NUL bytes', Buffer.alloc(1024)],
    ['a BOM', Buffer.from(`\ufeff${JSON.stringify({ value: [forged()] })}`)],
    ['UTF-16', Buffer.from(JSON.stringify({ value: [forged()] }), 'utf16le')],
    ['the secret split by invalid UTF-8', Buffer.concat([Buffer.from(`{"value":[{"subscriptionId":"s","tenantId":"${tenantA}","changeType":"created","clientState":"${secret.slice(0, 5)}`), Buffer.from([0xff]), Buffer.from(`${secret.slice(5)}"}]}`)])],
  ];
  for (const [label, bytes] of badBytes) {
    for (const contentType of ['application/json', 'application/octet-stream']) {
      crafted += 1;
      await post(`${label} as ${contentType}`, bytes, { headers: { 'content-type': contentType }, expect: [400, 403] });
    }
  }
  for (const depth of [10_000, 100_000, 400_000]) {
    for (const kind of ['array', 'object'] as const) {
      crafted += 2;
      const nested = deeplyNested(depth, kind);
      await post(`item with resourceData nested ${depth} (${kind})`, JSON.stringify({ value: [item()] }).replace(/}]}$/, `,"resourceData":{"deep":${nested}}}]}`), { expect: [400, 413] });
      await post(`body nested ${depth} (${kind})`, nested, { expect: [400, 413] });
    }
  }
  crafted += 3;
  const mb = 1024 * 1024;
  const padded = (size: number) => {
    const head = JSON.stringify({ value: [forged()] }).replace(/}]}$/, ',"pad":"');
    return head + 'x'.repeat(size - head.length - 4) + '"}]}';
  };
  await post('body one byte over 1 MB', padded(mb + 1), { expect: 413 });
  await post('body of exactly 1 MB', padded(mb), { expect: 403 });
  // Over the adapter's 10 MB: answered 413 while the rest is still being sent, or the connection is closed.
  await post('body of 11 MB', Buffer.alloc(11 * mb, 0x20), { expect: 413, fresh: true });

  crafted += 3;
  // As many as fit in 1 MB (about 300 bytes each).
  await post('3,000 forged items', JSON.stringify({ value: Array.from({ length: 3_000 }, () => forged()) }), { expect: 403 });
  const alternating = Math.min(2_000, input.samples);
  await post(`${alternating} alternating items`, JSON.stringify({ value: Array.from({ length: alternating }, (_, i) => (i % 2 === 0 ? item({ tenantId: tenantB, subscriptionId: subB }) : forged({ tenantId: tenantB }))) }), { expect: 202 });
  await post('5,000 junk items', JSON.stringify({ value: Array.from({ length: 5_000 }, (_, i) => [null, 1, 'x', [], {}, { clientState: secret }][i % 6]) }), { expect: 400 });
  crafted += 1;
  check('raw: malformed chunked body', await sendRaw(Buffer.from(`POST ${webhook} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`)), 400);

  // --- clientState: near misses of the secret, another integration's secret, the secret sent to the other integration.
  const nearMisses: unknown[] = [secret.toUpperCase(), `${secret} `, ` ${secret}`, `${secret}\u0000`, `${secret}\r\n`, secret.slice(0, -1), `${secret}x`, [secret], { value: secret }, otherSecret, '', null, 0];
  for (const clientState of nearMisses) {
    crafted += 1;
    await post(`clientState near miss ${typeof clientState}`, JSON.stringify({ value: [item({ clientState })] }), { expect: [400, 403] });
  }
  crafted += 2;
  await post('the secret sent to another integration', JSON.stringify({ value: [item()] }), { path: `/webhook/${otherId}`, legit: false, expect: 403 });
  await post('the secret under __proto__', `{"value":[{"subscriptionId":"${subA}","tenantId":"${tenantA}","changeType":"created","__proto__":{"clientState":"${secret}"}}]}`, { expect: 403 });

  // --- Routing: another tenant's subscription id, a record claiming the wrong tenant, upper-case tenant ids.
  crafted += 4;
  await post('tenant A with tenant B subscription id', JSON.stringify({ value: [item({ subscriptionId: subB })] }), { expect: 202 });
  await post('tenant A with the mixed-up subscription record', JSON.stringify({ value: [item({ subscriptionId: subMixed })] }), { expect: 202 });
  await post('tenant B with tenant A subscription id', JSON.stringify({ value: [item({ tenantId: tenantB, subscriptionId: subA })] }), { expect: 202 });
  await post('upper-case tenant id', JSON.stringify({ value: [item({ tenantId: tenantA.toUpperCase(), subscriptionId: randomUUID() })] }), { expect: 202 });

  // --- Rich: tokens that cannot verify, encrypted content without tokens: nothing published.
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const noneToken = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ aud: APP_ID, iss: `https://sts.windows.net/${tenantA}/`, exp: 4_000_000_000 })}.`;
  const hsToken = `${b64({ alg: 'HS256', typ: 'JWT', kid: 'x' })}.${b64({ aud: APP_ID })}.c2lnbmF0dXJl`;
  for (const [label, tokens] of [
    ['garbage validation tokens', ['a.b.c', '<script>alert(1)</script>', 'x'.repeat(5_000)]],
    ['alg none validation token', [noneToken]],
    ['HS256 validation token', [hsToken]],
    ['empty validation token', ['']],
  ] as const) {
    crafted += 1;
    await post(label, JSON.stringify({ value: [item(), item({ encryptedContent: { data: 'AAAA', dataKey: 'AAAA', dataSignature: 'AAAA', encryptionCertificateId: 'cert-1' } })], validationTokens: tokens }), { expect: 202 });
  }
  crafted += 2;
  await post('encrypted content without tokens', JSON.stringify({ value: [item({ encryptedContent: { data: 'AAAA' } })] }), { expect: 400 });
  await post('validation tokens of the wrong type', JSON.stringify({ value: [item()], validationTokens: { __proto__: ['x'], 0: 'x' } }), { expect: 400 });
  log(`hostile: ${crafted} crafted HTTP requests sent; slowest: ${timings.sort((a, b) => b[1] - a[1]).slice(0, 8).map(([l, ms]) => `${l.slice(0, 50)} ${ms.toFixed(0)} ms`).join('; ')}`);

  // --- A sample of the fuzzer's bodies and tokens over HTTP, a few at a time.
  const seed = Number(process.env['RELIABILITY_FUZZ_SEED'] ?? Date.now() % 2_147_483_647);
  const bodies = fc.sample(wireBody(fixture), { numRuns: input.samples, seed });
  const tokens = fc.sample(hostileToken(), { numRuns: Math.max(1, Math.floor(input.samples / 4)), seed: seed + 1 });
  const contentTypes = ['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/octet-stream'];
  const jobs: (() => Promise<unknown>)[] = [
    ...bodies.map((body, i) => () => post(`fuzzed body #${i} (seed ${seed})`, wireBytes(body), { headers: { 'content-type': contentTypes[i % contentTypes.length] ?? 'application/json' } })),
    ...tokens.map((token, i) => () => handshake(`fuzzed token #${i} (seed ${seed})`, token)),
  ];
  await pool(jobs, 6);
  log(`hostile: ${bodies.length} fuzzed bodies and ${tokens.length} fuzzed tokens sent over HTTP (seed ${seed})`);
  agent.destroy();

  // --- Everything on the bus for the phase's integrations: published only if sent with the secret, to its tenant.
  const events = await stack.events();
  const details = events.map((e) => e.detail as PublishedDetail).filter((d) => d.providerConfigKey === integrationId || d.providerConfigKey === otherId);
  summary.eventsChecked = details.length;
  checkPublished(tally, details, { integrationId, publishable, connectionsOf: (t) => connections[t] ?? [], secrets });
  // Nothing was ever legitimately sent to the other integration.
  checkPublished(tally, details, { integrationId: otherId, publishable: new Set(), connectionsOf: () => ['ox-1'], secrets });
  const publishedKeys = new Set(details.filter((d) => d.providerConfigKey === integrationId).map((d) => String(d.metadata?.idempotencyKey)));
  summary.publishable = expected.size;
  summary.published = [...expected].filter((k) => publishedKeys.has(k)).length;
  return summary;
}

/** Items of a body that do not carry the secret as their clientState (what a forger sends). */
function forgedItemsIn(text: string, secret: string): number {
  try {
    const value = (JSON.parse(text) as { value?: unknown }).value;
    if (!Array.isArray(value)) return 0;
    return value.filter((item) => !(item !== null && typeof item === 'object' && Object.hasOwn(item, 'clientState') && (item as Record<string, unknown>)['clientState'] === secret)).length;
  } catch {
    return 0;
  }
}

async function pool(jobs: readonly (() => Promise<unknown>)[], concurrency: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < jobs.length) {
        const job = jobs[next];
        next += 1;
        await job?.();
      }
    }),
  );
}
