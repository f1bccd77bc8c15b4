/**
 * A small typed Microsoft Graph HTTP client over fetch: app-only token per tenant, a timeout on every call,
 * Retry-After honoured within the caller's deadline, bounded backoff for 5xx, one token refresh after a 401,
 * Graph's request-id logged on every failure, never a token in an error or a log line, and never a redirect
 * followed (shared/graph/redirects.ts): a 3xx fails at once with code `redirect-refused`.
 *
 * Every request, retries included, first asks the rate governor (shared/graph/rate-governor.ts) for a token, and
 * every answer goes back to it. Given one (option `governor`, shared by every client of the app in the process),
 * calls are paced under Graph's limits; without one, the client makes its own that only holds back after a 429.
 * Either way a 429 holds back the requests of that kind for the tenant, not only the one that was throttled: Graph's
 * throttling guidance asks clients to wait Retry-After before sending more, and the calls already queued behind it
 * would otherwise each collect a 429 of their own (a herd of retries that only spends the rate limit). When a
 * second tenant is throttled while another is still held, the limit is taken to be the app's and every tenant is
 * held until its Retry-After. A single busy tenant never holds back the others.
 */
import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { GRAPH_ENV } from '../config/env-names';
import { backoffMs, GRAPH_DEFAULTS, parseRetryAfter, RequestNotSentError, systemClock, unreachable, type Clock, type FetchFn, type GraphConfig, type RetryPolicy } from './graph-config';
import { callKindOf, GovernorWaitError, RateGovernor, type GovernorStats, type Permit } from './rate-governor';
import { isRedirect, NO_REDIRECTS, refusedRedirect } from './redirects';

export type GraphMethod = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

export interface GraphRequest {
  method: GraphMethod;
  /** Relative to `{GRAPH_API_URL}/v1.0` (starting with `/`), or an absolute URL on that same base (a nextLink). */
  path: string;
  body?: unknown;
  tenantId: string;
  timeoutMs?: number;
  /** Epoch ms: the caller's time budget. A wait that would end past it is not started; the error is thrown. */
  deadline?: number;
  /** Safe to send again after a timeout or 5xx. Defaults to true for every method but POST. */
  idempotent?: boolean;
}

/** What the Graph client needs from the token client (shared/graph/token-client.ts implements it). */
export interface AccessTokenSource {
  getToken(tenantId: string, options?: { deadline?: number }): Promise<string>;
  invalidate(tenantId: string, rejectedToken?: string): void;
  stats?(): { tokenRequests: number };
}

export interface GraphLogger {
  warn(message: string, fields: Record<string, unknown>): void;
}

export interface GraphClientOptions {
  config: Pick<GraphConfig, 'apiUrl'>;
  tokens: AccessTokenSource;
  fetch?: FetchFn;
  clock?: Clock;
  logger?: GraphLogger;
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  random?: () => number;
  /** Paces requests under Graph's limits; share one per app (IntegrationGraphs does). Default: hold-back only. */
  governor?: RateGovernor;
}

export interface GraphClientStats {
  /** HTTP requests sent to Graph by `METHOD status` (e.g. `PATCH 200`), `METHOD timeout` or `METHOD network-error`. */
  requests: Record<string, number>;
  /** Requests sent to the token endpoint. */
  tokenRequests: number;
}

interface GraphErrorFields {
  method: GraphMethod;
  path: string;
  tenantId: string;
  status: number | undefined;
  code: string;
  message: string;
  requestId: string | undefined;
  clientRequestId: string;
  date?: string | undefined;
}

/** A Graph call that failed: status (undefined for a timeout or network error) and Graph's own error code. */
export class GraphRequestError extends Error {
  override readonly name: string = 'GraphRequestError';
  readonly method: GraphMethod;
  readonly path: string;
  readonly tenantId: string;
  readonly status: number | undefined;
  /**
   * Graph's `error.code` (e.g. `ResourceNotFound`), or `timeout` / `network-error` / `unknown`, or `held-back` (never
   * sent: the tenant or the app is throttled, or the rate governor had no token in time), or `redirect-refused`
   * (Graph's URL answered a redirect, not followed).
   */
  readonly code: string;
  /** Graph's `request-id`: quote it to Microsoft support. */
  readonly requestId: string | undefined;
  readonly clientRequestId: string;
  readonly date: string | undefined;

  constructor(fields: GraphErrorFields) {
    const status = fields.status === undefined ? fields.code : `HTTP ${fields.status} ${fields.code}`;
    super(`Graph ${fields.method} ${fields.path} failed (${status}): ${fields.message}`);
    this.method = fields.method;
    this.path = fields.path;
    this.tenantId = fields.tenantId;
    this.status = fields.status;
    this.code = fields.code;
    this.requestId = fields.requestId;
    this.clientRequestId = fields.clientRequestId;
    this.date = fields.date;
  }
}

/** Graph answered 429 and waiting would pass the deadline (or the cap): leave the work for a later run. */
export class GraphThrottledError extends GraphRequestError {
  override readonly name: string = 'GraphThrottledError';
  constructor(
    fields: GraphErrorFields,
    readonly retryAfterMs: number,
  ) {
    super(fields);
  }
}

/** Graph answered 2xx with a body that is not what its documentation says. */
export class InvalidGraphResponseError extends Error {
  override readonly name = 'InvalidGraphResponseError';
  constructor(
    readonly what: string,
    /** Dotted paths of the fields that failed, e.g. `value.0.expirationDateTime`. */
    readonly fields: readonly string[],
    detail: string,
  ) {
    super(`Graph returned an invalid ${what}: ${detail}`);
  }
}

/** A URL the client refuses to send a token to (not on the configured Graph base). */
export class GraphUrlError extends Error {
  override readonly name = 'GraphUrlError';
}

const graphErrorSchema = z.object({
  error: z
    .object({
      code: z.string().min(1),
      message: z.string().optional(),
      innerError: z.object({ 'request-id': z.string().optional(), date: z.string().optional() }).loose().optional(),
      // Some Graph workloads spell it in lower case.
      innererror: z.object({ 'request-id': z.string().optional(), date: z.string().optional() }).loose().optional(),
    })
    .loose(),
});

/** Graph's error messages are short; anything longer is cut so a log line stays a line. */
const MAX_MESSAGE_LENGTH = 300;

export class GraphClient {
  private readonly fetchFn: FetchFn;
  private readonly clock: Clock;
  private readonly retry: RetryPolicy;
  private readonly random: () => number;
  private readonly base: URL;
  private readonly counts = new Map<string, number>();
  private readonly governor: RateGovernor;

  constructor(private readonly options: GraphClientOptions) {
    this.fetchFn = options.fetch ?? ((url, init) => fetch(url, init));
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.retry = {
      maxAttempts: GRAPH_DEFAULTS.maxAttempts,
      maxThrottledAttempts: GRAPH_DEFAULTS.maxThrottledAttempts,
      backoffBaseMs: GRAPH_DEFAULTS.backoffBaseMs,
      backoffMaxMs: GRAPH_DEFAULTS.backoffMaxMs,
      maxRetryAfterMs: GRAPH_DEFAULTS.maxRetryAfterMs,
      ...options.retry,
    };
    this.base = new URL(`${options.config.apiUrl.replace(/\/+$/, '')}/${GRAPH_DEFAULTS.apiVersion}/`);
    this.governor = options.governor ?? new RateGovernor({ limits: [], clock: this.clock });
  }

  /** Sends one Graph request; resolves to the parsed JSON body, or undefined for 204 / an empty body. */
  async request(input: GraphRequest): Promise<unknown> {
    const url = this.resolve(input.path);
    const path = url.pathname.slice(this.base.pathname.length - 1);
    const idempotent = input.idempotent ?? input.method !== 'POST';
    const timeoutMs = input.timeoutMs ?? this.options.timeoutMs ?? GRAPH_DEFAULTS.requestTimeoutMs;
    const clientRequestId = randomUUID();
    const body = input.body === undefined ? undefined : JSON.stringify(input.body);
    const kind = callKindOf(input.method, path);
    const describe = (status: number | undefined, code: string, message: string, requestId?: string, date?: string): GraphErrorFields => ({
      method: input.method,
      path,
      tenantId: input.tenantId,
      status,
      code,
      message,
      requestId,
      clientRequestId,
      date,
    });

    // Counts attempts that failed for 5xx, the network or 429 without Retry-After; the one retry after a 401 is not one of them.
    let attempt = 1;
    /** 429s with a Retry-After, counted apart: Graph said when to come back. */
    let throttled = 0;
    let refreshedAfter401 = false;
    for (;;) {
      const permit = await this.admit(input.tenantId, kind, describe, input.deadline);
      let token: string;
      try {
        token = await this.options.tokens.getToken(input.tenantId, input.deadline === undefined ? {} : { deadline: input.deadline });
      } catch (error) {
        permit.cancel();
        throw error;
      }
      let status: number;
      let headers: Headers;
      let text: string;
      let redirect: Response | undefined;
      try {
        const response = await this.fetchFn(url.href, {
          method: input.method,
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'application/json',
            'client-request-id': clientRequestId,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body }),
          ...NO_REDIRECTS,
          signal: AbortSignal.timeout(timeoutMs),
        });
        status = response.status;
        headers = response.headers;
        // A redirect is answered below: this catch is for failures of the network.
        redirect = isRedirect(response) ? response : undefined;
        text = redirect === undefined ? await response.text() : '';
      } catch (cause) {
        if (cause instanceof RequestNotSentError) {
          permit.cancel();
          throw cause;
        }
        permit.done();
        const code = isTimeout(cause) ? 'timeout' : 'network-error';
        this.count(`${input.method} ${code}`);
        const apiUrl = this.options.config.apiUrl;
        const failure = new GraphRequestError(describe(undefined, code, code === 'timeout' ? `no answer within ${timeoutMs} ms from ${apiUrl}` : unreachable('graph', apiUrl, cause)));
        this.log(failure, attempt);
        if (!idempotent) throw failure;
        await this.waitOrThrow(failure, attempt, undefined, input.deadline);
        attempt += 1;
        continue;
      }
      this.count(`${input.method} ${status}`);
      const retryAfter = status === 429 || status >= 500 ? parseRetryAfter(headers.get('retry-after'), this.clock.now()) : undefined;
      const throttledForMs = status === 429 ? (retryAfter ?? backoffMs(attempt, this.retry, this.random)) : undefined;
      permit.done(throttledForMs === undefined ? {} : { throttledForMs });

      if (redirect !== undefined) {
        // Not retried: the same URL would redirect again; the fix is GRAPH_API_URL, or whatever intercepts it.
        const where = await refusedRedirect(url.href, redirect, 'the request carries an access token');
        const failure = new GraphRequestError(describe(status, 'redirect-refused', `${where}; check ${GRAPH_ENV.apiUrl}`));
        this.log(failure, attempt);
        throw failure;
      }
      if (status >= 200 && status < 300) return parseBody(text, `${input.method} ${path} response`);

      const parsed = graphErrorSchema.safeParse(parseJson(text));
      const graphError = parsed.success ? parsed.data.error : undefined;
      const inner = graphError?.innerError ?? graphError?.innererror;
      const fields = describe(
        status,
        graphError?.code ?? 'unknown',
        truncate(graphError?.message ?? `HTTP ${status} without a Graph error body`),
        headers.get('request-id') ?? inner?.['request-id'],
        inner?.date,
      );

      if (status === 401 && !refreshedAfter401) {
        // An expired or revoked token: get a fresh one once; a second 401 is a real authorization failure.
        refreshedAfter401 = true;
        this.log(new GraphRequestError(fields), attempt);
        this.options.tokens.invalidate(input.tenantId, token);
        continue;
      }
      if (throttledForMs !== undefined) {
        const wait = throttledForMs;
        const failure = new GraphThrottledError(fields, wait);
        this.log(failure, attempt);
        if (retryAfter === undefined) {
          await this.waitOrThrow(failure, attempt, wait, input.deadline);
          attempt += 1;
        } else {
          throttled += 1;
          await this.waitOrThrow(failure, throttled, wait, input.deadline, this.retry.maxThrottledAttempts);
        }
        continue;
      }
      const failure = new GraphRequestError(fields);
      this.log(failure, attempt);
      if (status >= 500 && idempotent) {
        await this.waitOrThrow(failure, attempt, retryAfter, input.deadline);
        attempt += 1;
        continue;
      }
      throw failure;
    }
  }

  stats(): GraphClientStats {
    return { requests: Object.fromEntries(this.counts), tokenRequests: this.options.tokens.stats?.().tokenRequests ?? 0 };
  }

  /** What the rate governor did: calls paced, 429s it learnt from, buckets it lowered. */
  governorStats(): GovernorStats {
    return this.governor.stats();
  }

  /** The request URL; an absolute one only when it is under the configured Graph base (a token goes with it). */
  private resolve(path: string): URL {
    if (/^[a-z][a-z0-9+.-]*:/i.test(path)) {
      let url: URL;
      try {
        url = new URL(path);
      } catch {
        throw new GraphUrlError('refusing a Graph URL that does not parse');
      }
      if (url.origin !== this.base.origin || !url.pathname.startsWith(this.base.pathname) || url.username !== '' || url.password !== '') {
        throw new GraphUrlError(`refusing to send a Graph token to ${url.origin}${url.pathname}: not under ${this.base.href}`);
      }
      return url;
    }
    if (!path.startsWith('/')) throw new GraphUrlError(`Graph path must start with "/": ${path}`);
    return new URL(`${this.base.href}${path.slice(1)}`);
  }

  /**
   * A token from the rate governor. A wait past the deadline or the cap throws a GraphThrottledError for a request
   * that was never sent (code `held-back`), so callers defer it like a 429.
   */
  private async admit(
    tenantId: string,
    kind: ReturnType<typeof callKindOf>,
    describe: (status: number | undefined, code: string, message: string) => GraphErrorFields,
    deadline: number | undefined,
  ): Promise<Permit> {
    try {
      return await this.governor.acquire(tenantId, kind, { deadline, maxWaitMs: this.retry.maxRetryAfterMs });
    } catch (error) {
      if (error instanceof GovernorWaitError) throw new GraphThrottledError(describe(undefined, 'held-back', error.message), error.waitMs);
      throw error;
    }
  }

  /** Waits before the next attempt, or throws `failure` when attempts, the cap or the deadline say stop. */
  private async waitOrThrow(
    failure: GraphRequestError,
    attempt: number,
    retryAfterMs: number | undefined,
    deadline: number | undefined,
    maxAttempts = this.retry.maxAttempts,
  ): Promise<void> {
    if (attempt >= maxAttempts) throw failure;
    const wait = retryAfterMs ?? backoffMs(attempt, this.retry, this.random);
    if (wait > this.retry.maxRetryAfterMs) throw failure;
    if (deadline !== undefined && this.clock.now() + wait > deadline) throw failure;
    await this.clock.sleep(wait);
  }

  private count(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  private log(failure: GraphRequestError, attempt: number): void {
    this.options.logger?.warn('Graph request failed', {
      tenantId: failure.tenantId,
      method: failure.method,
      path: failure.path,
      attempt,
      status: failure.status,
      code: failure.code,
      // Not `message`: the Powertools logger reserves that key and drops the field.
      error: failure.message,
      requestId: failure.requestId,
      clientRequestId: failure.clientRequestId,
      ...(failure instanceof GraphThrottledError ? { retryAfterMs: failure.retryAfterMs } : {}),
    });
  }
}

function parseBody(text: string, what: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new InvalidGraphResponseError(what, [], 'the body is not JSON');
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function truncate(message: string): string {
  return message.length > MAX_MESSAGE_LENGTH ? `${message.slice(0, MAX_MESSAGE_LENGTH)}…` : message;
}

/** AbortSignal.timeout rejects with a DOMException named TimeoutError (not always an `instanceof Error`). */
function isTimeout(error: unknown): boolean {
  const name = typeof error === 'object' && error !== null && 'name' in error ? error.name : undefined;
  return name === 'TimeoutError' || name === 'AbortError';
}
