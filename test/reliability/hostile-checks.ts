/**
 * What the hostile phase counts, and the checks both of its layers (in process and over HTTP) apply to every answer:
 * no crash, no 5xx, nothing forged or misrouted published, no prototype pollution, no secret echoed, no header
 * reflected, the handshake echoing exactly the (escaped) token as text/plain.
 */
import { idempotencyKey } from '../../shared/events/contract';
import { escapeHtml } from '../../shared/graph/handshake';
import { claimedTenantOf, parseNotificationBody, parseNotificationItem, subscriptionIdOf, type ChangeNotification } from '../../shared/graph/change-notification';

export interface HostileTally {
  /** Inputs given to the code under test (property runs, shrinking included, and HTTP requests). */
  inputs: number;
  /** Throws or rejections of code documented never to throw, and uncaught errors of the process. */
  crashes: number;
  /** Answers outside the documented statuses, crafted cases answered otherwise than specified, items lost by the parser. */
  unexpected: number;
  /** 5xx answers to bad input. */
  serverErrors: number;
  /** Events published for an item that did not carry the integration's secret as its own clientState. */
  forgedPublished: number;
  /** Events published to a connection that is not of the notification's tenant. */
  misrouted: number;
  /** Object.prototype (or another built-in prototype) changed, or `{}` inheriting something new. */
  pollution: number;
  /** Handshake answers that are not 200 text/plain with exactly the escaped token. */
  handshakeWrong: number;
  /** Answers with a header value holding CR/LF, a header not in the product's set, or markup reflected. */
  reflected: number;
  /** The secret in an answer body or in a log field. */
  secretEchoed: number;
  /** Statuses seen, for the report. */
  statuses: Map<number, number>;
  /** The first failures, described without secrets. */
  failures: string[];
}

export function newTally(): HostileTally {
  return { inputs: 0, crashes: 0, unexpected: 0, serverErrors: 0, forgedPublished: 0, misrouted: 0, pollution: 0, handshakeWrong: 0, reflected: 0, secretEchoed: 0, statuses: new Map(), failures: [] };
}

/** Every counter that must stay 0. */
export function problems(tally: HostileTally): number {
  return tally.crashes + tally.unexpected + tally.serverErrors + tally.forgedPublished + tally.misrouted + tally.pollution + tally.handshakeWrong + tally.reflected + tally.secretEchoed;
}

const MAX_FAILURES = 20;

/** Records a failure line with every secret replaced and long inputs cut. */
export function fail(tally: HostileTally, counter: keyof Omit<HostileTally, 'inputs' | 'statuses' | 'failures'>, line: string, secrets: readonly string[]): void {
  tally[counter] += 1;
  if (tally.failures.length < MAX_FAILURES) tally.failures.push(`${counter}: ${redact(line, secrets)}`);
}

export function redact(text: string, secrets: readonly string[], max = 400): string {
  let out = text;
  for (const secret of secrets) if (secret.length > 0) out = out.split(secret).join('<secret>');
  // Control characters shown escaped, so a failure line is one line.
  out = JSON.stringify(out).slice(1, -1);
  return out.length > max ? `${out.slice(0, max)}… (${out.length} chars)` : out;
}

/** Headers the intake and the local adapter set; anything else in an answer was reflected from the request. */
const PRODUCT_HEADERS = new Set(['content-type', 'x-content-type-options', 'cache-control', 'allow', 'retry-after', 'content-length', 'date', 'connection', 'keep-alive', 'transfer-encoding']);

/** CR/LF in a header value, or a header name the product never sets. */
export function headerProblem(headers: Record<string, string | string[] | number | boolean | undefined>): string | undefined {
  for (const [name, value] of Object.entries(headers)) {
    if (!PRODUCT_HEADERS.has(name.toLowerCase())) return `unexpected header ${JSON.stringify(name)}`;
    const text = Array.isArray(value) ? value.join(',') : String(value);
    if (/[\r\n\u0000]/.test(text)) return `header ${name} holds CR, LF or NUL`;
  }
  return undefined;
}

/** What the handshake must answer for a token: the token, HTML-escaped (the product never reflects markup). */
export function expectedHandshakeBody(token: string): string {
  return escapeHtml(token);
}

/** Lone surrogates, which URL encoding turns into U+FFFD: the echo of such a token is of its well-formed form. */
export function wellFormed(text: string): string {
  return text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

/** Checks a handshake answer; returns what is wrong, or undefined. */
export function handshakeProblem(token: string, answer: { status: number; contentType: string | undefined; nosniff: string | undefined; body: string }): string | undefined {
  if (answer.status !== 200) return `status ${answer.status}`;
  if (answer.contentType !== 'text/plain; charset=utf-8') return `content-type ${JSON.stringify(answer.contentType)}`;
  if (answer.nosniff !== 'nosniff') return 'no x-content-type-options: nosniff';
  const expected = expectedHandshakeBody(wellFormed(token));
  // Lone surrogates cannot be encoded: on the wire they are U+FFFD whichever side replaced them.
  if (wellFormed(answer.body) !== expected) return `body of ${answer.body.length} chars is not the escaped token of ${expected.length} chars`;
  if (/[<>]/.test(answer.body)) return 'markup in the body';
  return undefined;
}

/**
 * The oracle for "forged": the idempotency keys of the items of `body` that may be published for `integrationId`.
 * An item may be published only when it carries `secret` as its own `clientState` (checked on the raw JSON, not on
 * what the product parsed), and only in a POST without validation tokens or encrypted content (rich items are
 * never valid here: no token the phase sends can verify). An item that names no tenant (neither `tenantId` nor
 * `organizationId`) belongs to the tenant recorded for its subscription, when `recordedTenantOf` knows one.
 */
export function publishableKeys(integrationId: string, text: string, secret: string, recordedTenantOf: (subscriptionId: string) => string | undefined = () => undefined): Set<string> {
  const keys = new Set<string>();
  let raw: unknown;
  let validationTokens: readonly string[];
  try {
    raw = JSON.parse(text);
    validationTokens = parseNotificationBody(text).validationTokens;
  } catch {
    return keys;
  }
  const items = (raw as { value?: unknown }).value;
  if (!Array.isArray(items) || validationTokens.length > 0) return keys;
  const verified: ChangeNotification[] = [];
  for (const item of items as unknown[]) {
    if (!(item !== null && typeof item === 'object' && Object.hasOwn(item, 'clientState') && (item as Record<string, unknown>)['clientState'] === secret)) continue;
    const subscriptionId = subscriptionIdOf(item);
    const recorded = claimedTenantOf(item) === undefined && subscriptionId !== undefined ? recordedTenantOf(subscriptionId) : undefined;
    const parsed = parseNotificationItem(item, recorded);
    if ('notification' in parsed) verified.push(parsed.notification);
  }
  if (verified.some((n) => n.encryptedContent !== undefined)) return keys;
  for (const notification of verified) keys.add(idempotencyKey(integrationId, notification));
  return keys;
}

/** A published event as the checks read it (EventEntry's detail, or an emulator event's detail). */
export interface PublishedDetail {
  /** `forward` for a notification's event; the subscription functions' events (e.g. a lifecycle action that failed) have none. */
  type?: unknown;
  providerConfigKey?: unknown;
  connectionId?: unknown;
  metadata?: { idempotencyKey?: unknown; tenantId?: unknown };
  payload?: { value?: { tenantId?: unknown }[] };
}

/**
 * Counts forged and misrouted events among `details` (those of `integrationId` only): forged when the key is not
 * publishable, misrouted when the connection is not one of the notification's tenant.
 */
export function checkPublished(
  tally: HostileTally,
  details: readonly PublishedDetail[],
  input: { integrationId: string; publishable: ReadonlySet<string>; connectionsOf: (tenantId: string) => readonly string[]; secrets: readonly string[] },
): void {
  for (const detail of details) {
    if (detail.providerConfigKey !== input.integrationId) continue;
    // Lifecycle items carrying the secret are acted on by the lifecycle function, whose own events (subscription
    // failed: this integration has no Graph credentials) are not notifications forwarded by the intake.
    if (detail.type !== 'forward') continue;
    const key = detail.metadata?.idempotencyKey;
    if (typeof key !== 'string' || !input.publishable.has(key)) {
      fail(tally, 'forgedPublished', `event for connection ${String(detail.connectionId)} with key ${String(key)} was never sent with the secret`, input.secrets);
    }
    const tenantId = detail.metadata?.tenantId;
    const payloadTenant = detail.payload?.value?.[0]?.tenantId;
    const tenantOk = typeof tenantId === 'string' && typeof payloadTenant === 'string' && payloadTenant.toLowerCase() === tenantId;
    const connectionOk = detail.connectionId === null || (typeof tenantId === 'string' && input.connectionsOf(tenantId).includes(String(detail.connectionId)));
    if (!tenantOk || !connectionOk) {
      fail(tally, 'misrouted', `event for tenant ${String(tenantId)} went to connection ${String(detail.connectionId)}`, input.secrets);
    }
  }
}

/** A snapshot of the built-in prototypes, to tell whether any input polluted them. */
export function prototypeSnapshot(): () => string | undefined {
  const targets: [string, object][] = [
    ['Object.prototype', Object.prototype],
    ['Array.prototype', Array.prototype],
    ['Function.prototype', Function.prototype],
    ['String.prototype', String.prototype],
  ];
  const before = targets.map(([, target]) => new Map(Reflect.ownKeys(target).map((k) => [k, Object.getOwnPropertyDescriptor(target, k)?.value as unknown])));
  return () => {
    for (const [i, [name, target]] of targets.entries()) {
      const keys = Reflect.ownKeys(target);
      const saved = before[i] as Map<string | symbol, unknown>;
      if (keys.length !== saved.size) return `${name} has ${keys.length - saved.size} new key(s)`;
      for (const k of keys) {
        if (!saved.has(k)) return `${name} has a new key ${String(k)}`;
        if (Object.getOwnPropertyDescriptor(target, k)?.value !== saved.get(k)) return `${name}.${String(k)} was replaced`;
      }
    }
    const plain = {} as Record<string, unknown>;
    for (const k of ['polluted', 'isAdmin', 'clientState', 'value', 'length', '0']) if (plain[k] !== undefined) return `{} inherits ${k}`;
    if (Object.getPrototypeOf(plain) !== Object.prototype) return '{} has another prototype';
    return undefined;
  };
}
