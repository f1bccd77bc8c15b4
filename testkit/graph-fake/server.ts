/**
 * The fake's HTTP front: routing, request ids, fault injection and the down switch, rate limits, body
 * parsing, and writing Graph or identity-platform error shapes. It never lets an exception escape:
 * unexpected ones become 500 generalException and are kept for tests (internalErrors()).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FakeClock } from './clock';
import type { DeltaApi } from './delta';
import type { DeltaKind } from './delta-store';
import { AadHttpError, aadErrorBody, GraphHttpError, graphErrorBody } from './errors';
import type { IdentityPlatform } from './identity';
import type { ResolvedOptions } from './options';
import { formatRetryAfter, type LimitRule, type SlidingWindowLimiter } from './rate-limiter';
import type { GraphCaller, GraphResponse, SubscriptionsApi } from './subscriptions-api';

export type FakeRoute =
  | 'token'
  | 'subscriptions.create'
  | 'subscriptions.list'
  | 'subscriptions.get'
  | 'subscriptions.update'
  | 'subscriptions.reauthorize'
  | 'subscriptions.delete'
  | 'delta.users'
  | 'delta.groups'
  | 'delta.messages';

/** Calls by route, then by status ('network' for connections the fake dropped on purpose). */
export type FakeStats = Partial<Record<FakeRoute | 'unknown', Record<string, number>>>;

export interface FaultOptions {
  /** Retry-After header value, written verbatim (seconds). */
  retryAfterSeconds?: number;
  /** Graph error code / identity-platform error (default: the usual one for the status). */
  code?: string;
  message?: string;
}

export interface DownState {
  token: boolean;
  graph: boolean;
  retryAfterSeconds?: number;
}

interface Fault {
  status: number | 'network';
  remaining: number;
  options: FaultOptions;
}

const GRAPH_CONTENT_TYPE = 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';
const MAX_BODY_BYTES = 1024 * 1024;
const WRITE_ROUTES = new Set<FakeRoute>(['subscriptions.create', 'subscriptions.update', 'subscriptions.reauthorize', 'subscriptions.delete']);
const OPERATION: Record<FakeRoute, string> = {
  token: 'Token',
  'subscriptions.create': 'Create',
  'subscriptions.list': 'List',
  'subscriptions.get': 'Get',
  'subscriptions.update': 'Update',
  'subscriptions.reauthorize': 'Reauthorize',
  'subscriptions.delete': 'Delete',
  'delta.users': 'Delta',
  'delta.groups': 'Delta',
  'delta.messages': 'Delta',
};
const DELTA_KIND = { 'delta.users': 'users', 'delta.groups': 'groups', 'delta.messages': 'messages' } as const satisfies Partial<Record<FakeRoute, DeltaKind>>;
const GRAPH_CODES: Record<number, string> = {
  400: 'BadRequest',
  401: 'InvalidAuthenticationToken',
  403: 'accessDenied',
  404: 'ResourceNotFound',
  409: 'Conflict',
  429: 'TooManyRequests',
  500: 'generalException',
  502: 'BadGateway',
  503: 'serviceNotAvailable',
  504: 'GatewayTimeout',
};

interface Matched {
  route: FakeRoute;
  params: { tenant?: string; id?: string; collection?: string };
}

type Match = Matched | { route: 'unknown'; allowed?: string[] };

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function match(method: string, path: string): Match {
  const token = /^\/([^/]+)\/oauth2\/v2\.0\/token\/?$/i.exec(path);
  if (token) return method === 'POST' ? { route: 'token', params: { tenant: safeDecode(token[1] ?? '') } } : { route: 'unknown', allowed: ['POST'] };
  if (/^\/v1\.0\/subscriptions\/?$/i.test(path)) {
    if (method === 'POST') return { route: 'subscriptions.create', params: {} };
    if (method === 'GET') return { route: 'subscriptions.list', params: {} };
    return { route: 'unknown', allowed: ['GET', 'POST'] };
  }
  const reauthorize = /^\/v1\.0\/subscriptions\/([^/]+)\/reauthorize\/?$/i.exec(path);
  if (reauthorize) return method === 'POST' ? { route: 'subscriptions.reauthorize', params: { id: safeDecode(reauthorize[1] ?? '') } } : { route: 'unknown', allowed: ['POST'] };
  const item = /^\/v1\.0\/subscriptions\/([^/]+)\/?$/i.exec(path);
  if (item) {
    const id = safeDecode(item[1] ?? '');
    if (method === 'GET') return { route: 'subscriptions.get', params: { id } };
    if (method === 'PATCH') return { route: 'subscriptions.update', params: { id } };
    if (method === 'DELETE') return { route: 'subscriptions.delete', params: { id } };
    return { route: 'unknown', allowed: ['GET', 'PATCH', 'DELETE'] };
  }
  // `/delta` is Graph's shortcut for `/microsoft.graph.delta`, the name the SDKs send (delta query overview).
  const directoryDelta = /^\/v1\.0\/(users|groups)\/(?:microsoft\.graph\.)?delta(?:\(\))?\/?$/i.exec(path);
  if (directoryDelta) {
    const kind = (directoryDelta[1] ?? '').toLowerCase() as 'users' | 'groups';
    return method === 'GET' ? { route: `delta.${kind}`, params: { collection: kind } } : { route: 'unknown', allowed: ['GET'] };
  }
  const messagesDelta = /^\/v1\.0\/users\/([^/]+)\/mailFolders\/([^/]+)\/messages\/(?:microsoft\.graph\.)?delta(?:\(\))?\/?$/i.exec(path);
  const mailbox = safeDecode(messagesDelta?.[1] ?? '');
  const folder = safeDecode(messagesDelta?.[2] ?? '');
  // An id that decodes to a path separator cannot name one folder's collection; it falls through to 404.
  if (messagesDelta && !mailbox.includes('/') && !folder.includes('/')) {
    const collection = `users/${mailbox}/mailFolders/${folder}/messages`;
    return method === 'GET' ? { route: 'delta.messages', params: { collection } } : { route: 'unknown', allowed: ['GET'] };
  }
  return { route: 'unknown' };
}

export interface ServerDeps {
  options: ResolvedOptions;
  clock: FakeClock;
  identity: IdentityPlatform;
  api: SubscriptionsApi;
  delta: DeltaApi;
  limiter: SlidingWindowLimiter;
  baseUrl: () => string;
}

export class GraphFakeHttp {
  private readonly counters = new Map<string, Map<string, number>>();
  private readonly faults = new Map<FakeRoute, Fault[]>();
  private readonly errors: Error[] = [];
  private down: DownState = { token: false, graph: false };

  constructor(private readonly deps: ServerDeps) {}

  stats(): FakeStats {
    const out: FakeStats = {};
    for (const [route, byStatus] of this.counters) out[route as FakeRoute] = Object.fromEntries(byStatus);
    return out;
  }

  resetStats(): void {
    this.counters.clear();
  }

  internalErrors(): Error[] {
    return [...this.errors];
  }

  setDown(down: boolean | { token?: boolean; graph?: boolean; retryAfterSeconds?: number }): void {
    this.down =
      typeof down === 'boolean'
        ? { token: down, graph: down }
        : { token: down.token ?? false, graph: down.graph ?? false, ...(down.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: down.retryAfterSeconds }) };
  }

  failNext(route: FakeRoute, status: number | 'network', times: number, options: FaultOptions): void {
    if (status !== 'network' && (!Number.isInteger(status) || status < 400 || status > 599)) throw new RangeError(`failNext needs a 4xx/5xx status or 'network', got ${status}`);
    const queue = this.faults.get(route) ?? [];
    queue.push({ status, remaining: times, options });
    this.faults.set(route, queue);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  private count(route: string, status: string): void {
    const byStatus = this.counters.get(route) ?? new Map<string, number>();
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
    this.counters.set(route, byStatus);
  }

  private takeFault(route: FakeRoute): Fault | undefined {
    const queue = this.faults.get(route);
    const fault = queue?.[0];
    if (queue === undefined || fault === undefined) return undefined;
    fault.remaining -= 1;
    if (fault.remaining <= 0) queue.shift();
    return fault;
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    this.dispatch(req, res).catch((error: unknown) => {
      const err = error instanceof Error ? error : new Error(String(error));
      this.errors.push(err);
      if (!res.headersSent) {
        this.writeGraphError(res, 'unknown', new GraphHttpError(500, 'generalException', 'graph-fake internal error'), randomUUID(), undefined);
      } else {
        res.destroy();
      }
    });
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const clientRequestId = typeof req.headers['client-request-id'] === 'string' ? req.headers['client-request-id'] : undefined;
    const url = new URL(req.url ?? '/', 'http://graph-fake');
    const method = (req.method ?? 'GET').toUpperCase();
    const matched = match(method, url.pathname);
    const isToken = matched.route === 'token';

    if (matched.route === 'unknown') {
      await drain(req);
      const error =
        matched.allowed === undefined
          ? new GraphHttpError(404, 'NotFound', `graph-fake has no route ${method} ${url.pathname}`)
          : new GraphHttpError(405, 'MethodNotAllowed', `The HTTP method '${method}' is not allowed for ${url.pathname}.`, { allow: matched.allowed.join(', ') });
      this.writeGraphError(res, 'unknown', error, requestId, clientRequestId);
      return;
    }
    const { route } = matched;

    if ((isToken && this.down.token) || (!isToken && this.down.graph)) {
      await drain(req);
      const headers: Record<string, string> = this.down.retryAfterSeconds === undefined ? {} : { 'retry-after': String(this.down.retryAfterSeconds) };
      this.writeFault(res, route, 503, { ...(this.down.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: this.down.retryAfterSeconds }) }, requestId, clientRequestId, headers);
      return;
    }

    const fault = this.takeFault(route);
    if (fault !== undefined) {
      await drain(req);
      if (fault.status === 'network') {
        this.count(route, 'network');
        req.socket.destroy();
        return;
      }
      const headers: Record<string, string> = fault.options.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.options.retryAfterSeconds) };
      this.writeFault(res, route, fault.status, fault.options, requestId, clientRequestId, headers);
      return;
    }

    let raw: string;
    try {
      raw = await readBody(req);
    } catch {
      if (isToken) this.writeAadError(res, new AadHttpError(413, 'invalid_request', 90014, 'The request body is too large.'), requestId, clientRequestId);
      else this.writeGraphError(res, route, new GraphHttpError(413, 'RequestEntityTooLarge', 'The request body is too large.'), requestId, clientRequestId);
      return;
    }

    if (isToken) {
      try {
        const tenant = matched.params.tenant ?? '';
        const path = `/${tenant}/oauth2/v2.0/token`;
        const tokenUrls = [`${this.deps.baseUrl()}${path}`, ...(req.headers.host === undefined ? [] : [`http://${req.headers.host}${path}`])];
        const contentType = String(req.headers['content-type'] ?? '');
        const form = contentType.toLowerCase().startsWith('application/x-www-form-urlencoded') ? new URLSearchParams(raw) : new URLSearchParams();
        const body = this.deps.identity.token(tenant, form, tokenUrls);
        this.write(res, route, 200, body, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store, no-cache', pragma: 'no-cache', 'x-ms-request-id': requestId, 'request-id': requestId });
      } catch (error) {
        if (!(error instanceof AadHttpError)) throw error;
        this.writeAadError(res, error, requestId, clientRequestId);
      }
      return;
    }

    try {
      const token = this.deps.identity.authenticate(typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined);
      const caller: GraphCaller = { tenantId: token.tenantId, clientId: token.clientId };
      if (this.deps.identity.graphConsentRevoked(caller.tenantId, caller.clientId)) {
        throw new GraphHttpError(403, 'ExtensionError', `Operation: ${OPERATION[route]}; Exception: [Status Code: Forbidden; Reason: Forbidden]`);
      }
      this.throttle(route, caller);
      const prefer = typeof req.headers.prefer === 'string' ? req.headers.prefer : undefined;
      const response = await this.callApi(route, matched.params, caller, raw, url, prefer);
      this.write(res, route, response.status, response.body, { ...this.graphHeaders(requestId, clientRequestId), ...response.headers });
    } catch (error) {
      if (!(error instanceof GraphHttpError)) throw error;
      this.writeGraphError(res, route, error, requestId, clientRequestId);
    }
  }

  private throttle(route: FakeRoute, caller: GraphCaller): void {
    const { rateLimits } = this.deps.options;
    const app = caller.clientId.toLowerCase();
    const rules: LimitRule[] = WRITE_ROUTES.has(route)
      ? [
          { name: 'writesPerAppPerTenant', key: `write|${app}|${caller.tenantId}`, limit: rateLimits.writesPerAppPerTenant },
          { name: 'writesPerApp', key: `write|${app}`, limit: rateLimits.writesPerApp },
        ]
      : route === 'subscriptions.list'
        ? [{ name: 'listsPerAppPerTenant', key: `list|${app}|${caller.tenantId}`, limit: rateLimits.listsPerAppPerTenant }]
        : route in DELTA_KIND
          ? [{ name: 'deltaPerAppPerTenant', key: `delta|${app}|${caller.tenantId}`, limit: rateLimits.deltaPerAppPerTenant }]
          : [{ name: 'getsPerAppPerTenant', key: `get|${app}|${caller.tenantId}`, limit: rateLimits.getsPerAppPerTenant }];
    const decision = this.deps.limiter.take(rules);
    if (decision.allowed) return;
    const ms = Math.ceil(decision.retryAfterMs);
    throw new GraphHttpError(
      429,
      'TooManyRequests',
      'Please retry again later.',
      { 'retry-after': formatRetryAfter(ms, this.deps.options.retryAfterFormat, this.deps.options.timeScale), 'x-graph-fake-retry-after-ms': String(ms), 'x-graph-fake-limit': decision.name },
      { code: '429', message: 'Please retry after', status: '429' },
    );
  }

  private async callApi(route: FakeRoute, params: Matched['params'], caller: GraphCaller, raw: string, url: URL, prefer: string | undefined): Promise<GraphResponse> {
    const id = params.id ?? '';
    const json = () => {
      if (raw.trim() === '') return undefined;
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        throw new GraphHttpError(400, 'BadRequest', 'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.');
      }
    };
    const { api } = this.deps;
    switch (route) {
      case 'subscriptions.create':
        return api.create(caller, json());
      case 'subscriptions.list':
        return api.list(caller, url.searchParams.get('$skiptoken'));
      case 'subscriptions.get':
        return api.get(caller, id);
      case 'subscriptions.update':
        return api.update(caller, id, json());
      case 'subscriptions.reauthorize':
        return api.reauthorizeById(caller, id);
      case 'subscriptions.delete':
        return api.delete(caller, id);
      case 'delta.users':
      case 'delta.groups':
      case 'delta.messages':
        return this.deps.delta.handle({ kind: DELTA_KIND[route], collection: params.collection ?? '', caller, url, prefer });
      case 'token':
        throw new Error('token requests are not Graph API calls');
    }
  }

  private graphHeaders(requestId: string, clientRequestId: string | undefined): Record<string, string> {
    return { 'content-type': GRAPH_CONTENT_TYPE, 'cache-control': 'no-cache', 'request-id': requestId, 'client-request-id': clientRequestId ?? requestId };
  }

  private writeFault(res: ServerResponse, route: FakeRoute, status: number, options: FaultOptions, requestId: string, clientRequestId: string | undefined, headers: Record<string, string>): void {
    if (route === 'token') {
      const error = options.code ?? (status >= 500 || status === 429 ? 'temporarily_unavailable' : 'invalid_request');
      this.writeAadError(res, new AadHttpError(status, error, 90033, options.message ?? 'A transient error has occurred. Please try again.', headers), requestId, clientRequestId);
      return;
    }
    const inner: Record<string, string> = status === 429 ? { code: '429', message: 'Please retry after', status: '429' } : {};
    const message = options.message ?? (status === 429 ? 'Please retry again later.' : status === 503 ? 'Service Unavailable' : `graph-fake injected ${status}`);
    this.writeGraphError(res, route, new GraphHttpError(status, options.code ?? GRAPH_CODES[status] ?? 'UnknownError', message, headers, inner), requestId, clientRequestId);
  }

  private writeGraphError(res: ServerResponse, route: FakeRoute | 'unknown', error: GraphHttpError, requestId: string, clientRequestId: string | undefined): void {
    const body = graphErrorBody(error, requestId, clientRequestId ?? requestId, this.deps.clock.now());
    this.write(res, route, error.status, body, { ...this.graphHeaders(requestId, clientRequestId), ...error.headers });
  }

  private writeAadError(res: ServerResponse, error: AadHttpError, requestId: string, clientRequestId: string | undefined): void {
    const body = aadErrorBody(error, requestId, clientRequestId ?? randomUUID(), this.deps.clock.now());
    this.write(res, 'token', error.status, body, {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store, no-cache',
      pragma: 'no-cache',
      'x-ms-request-id': requestId,
      'request-id': requestId,
      ...error.headers,
    });
  }

  private write(res: ServerResponse, route: FakeRoute | 'unknown', status: number, body: unknown, headers: Record<string, string>): void {
    this.count(route, String(status));
    if (body === undefined || status === 204) {
      const { 'content-type': _contentType, ...rest } = headers;
      res.writeHead(status, rest);
      res.end();
      return;
    }
    const payload = Buffer.from(JSON.stringify(body), 'utf8');
    res.writeHead(status, { ...headers, 'content-length': String(payload.length) });
    res.end(payload);
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error('body too large'));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function drain(req: IncomingMessage): Promise<void> {
  try {
    await readBody(req);
  } catch {
    // The body is not needed; only the connection's state matters.
  }
}
