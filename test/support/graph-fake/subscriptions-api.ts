/**
 * Graph v1.0 /subscriptions (Microsoft Graph docs): create (after the validation handshake), list (paged, no
 * clientState), get, renew (PATCH), reauthorize, delete. Lifetimes come from shared/graph/subscription-lifetimes.ts,
 * the one place those numbers live.
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import { lifetimeOf, maxLifetimeMinutes, MIN_SUBSCRIPTION_MINUTES, UnsupportedResourceError } from '../../../shared/graph/subscription-lifetimes';
import { GraphHttpError } from './errors';
import { validationError, type ValidationRecord } from './handshake';
import { stableGuid } from './identity';
import { GRAPH_DEFAULTS, type ResolvedOptions } from './options';
import { toGraphJson, type StoredSubscription, type SubscriptionStore } from './store';

export interface GraphCaller {
  tenantId: string;
  clientId: string;
}

export interface GraphResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface SubscriptionsApiDeps {
  store: SubscriptionStore;
  options: ResolvedOptions;
  now: () => number;
  validate: (url: string, purpose: ValidationRecord['purpose']) => Promise<ValidationRecord>;
  /** The fake's Graph root, e.g. http://127.0.0.1:1234/v1.0 */
  graphRoot: () => string;
}

const CHANGE_TYPES = new Set(['created', 'updated', 'deleted']);
const TLS_VERSIONS = new Set(['v1_0', 'v1_1', 'v1_2', 'v1_3']);
const MINUTE = 60_000;

const badRequest = (message: string) => new GraphHttpError(400, 'InvalidRequest', message);
const notFound = () => new GraphHttpError(404, 'ResourceNotFound', 'The object was not found.');

function asObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new GraphHttpError(400, 'BadRequest', 'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.');
  }
  return body as Record<string, unknown>;
}

function requiredString(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (typeof value !== 'string' || value.trim() === '') throw badRequest(`Required property '${name}' is missing or empty.`);
  return value;
}

function optionalString(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw badRequest(`Property '${name}' must be a string.`);
  return value;
}

function parseDate(value: unknown): number {
  const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw new GraphHttpError(400, 'BadRequest', `Cannot convert the literal '${String(value)}' to the expected type 'Edm.DateTimeOffset'.`);
  return ms;
}

function normaliseChangeType(value: string): string {
  const parts = value.split(',').map((p) => p.trim());
  for (const part of parts) {
    if (!CHANGE_TYPES.has(part)) throw badRequest(`'${part}' is not a valid changeType: use created, updated, deleted or a comma-separated combination.`);
  }
  return parts.join(',');
}

export class SubscriptionsApi {
  constructor(private readonly deps: SubscriptionsApiDeps) {}

  private checkUrl(name: string, value: string): string {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw badRequest(`Invalid ${name} '${value}': an absolute URL is required.`);
    }
    const allowed = this.deps.options.requireHttps ? ['https:'] : ['https:', 'http:'];
    if (!allowed.includes(url.protocol)) throw badRequest(`Invalid ${name} '${value}': the URL must use the https scheme.`);
    return value;
  }

  /** Graph's lifetime rules for a requested expiry: over the maximum → 400, under 45 minutes → raised to 45. */
  private expiryFor(resource: string, requested: number, options: { includeResourceData: boolean; hasLifecycleUrl: boolean }): number {
    const now = this.deps.now();
    let max: number;
    try {
      max = maxLifetimeMinutes(resource, { includeResourceData: options.includeResourceData, hasLifecycleUrl: true });
    } catch (error) {
      if (error instanceof UnsupportedResourceError) throw badRequest(`Resource '${resource}' is not supported for change notifications.`);
      throw error;
    }
    if (requested - now > max * MINUTE) {
      throw new GraphHttpError(400, 'ExtensionError', `Subscription expiration can only be ${max} minutes in the future.`);
    }
    const withoutLifecycle = lifetimeOf(resource).withoutLifecycleUrlMaxMinutes;
    if (!options.hasLifecycleUrl && withoutLifecycle !== undefined && requested - now > withoutLifecycle * MINUTE) {
      throw badRequest('lifecycleNotificationUrl is required for subscription creation on this resource when the expirationDateTime value exceeds 1 hour.');
    }
    return Math.max(requested, now + MIN_SUBSCRIPTION_MINUTES * MINUTE);
  }

  private duplicateKey(caller: GraphCaller, changeType: string, resource: string, notificationUrl: string): string {
    const parts = [caller.tenantId, caller.clientId.toLowerCase(), changeType.split(',').sort().join(','), resource.replace(/^\/+/, '').toLowerCase()];
    if (this.deps.options.duplicateKey === 'changeType+resource+notificationUrl') parts.push(notificationUrl);
    return parts.join('|');
  }

  private async validateAll(urls: { url: string; purpose: ValidationRecord['purpose'] }[]): Promise<void> {
    // Sequential, one request per property even when both URLs are the same (Microsoft Graph docs).
    for (const { url, purpose } of urls) {
      const record = await this.deps.validate(url, purpose);
      if (record.outcome !== 'ok') throw validationError(record);
    }
  }

  async create(caller: GraphCaller, rawBody: unknown): Promise<GraphResponse> {
    const body = asObject(rawBody);
    const changeType = normaliseChangeType(requiredString(body, 'changeType'));
    const notificationUrl = this.checkUrl('notificationUrl', requiredString(body, 'notificationUrl'));
    const resource = requiredString(body, 'resource');
    const requestedExpiry = parseDate(requiredString(body, 'expirationDateTime'));
    const lifecycleRaw = optionalString(body, 'lifecycleNotificationUrl');
    const lifecycleNotificationUrl = lifecycleRaw === undefined ? null : this.checkUrl('lifecycleNotificationUrl', lifecycleRaw);
    const clientState = optionalString(body, 'clientState') ?? null;
    if (clientState !== null && clientState.length > GRAPH_DEFAULTS.maxClientStateLength) {
      throw badRequest(`clientState is too long: the maximum length is ${GRAPH_DEFAULTS.maxClientStateLength} characters.`);
    }
    const tls = optionalString(body, 'latestSupportedTlsVersion') ?? 'v1_2';
    if (!TLS_VERSIONS.has(tls)) throw badRequest(`'${tls}' is not a valid latestSupportedTlsVersion: use v1_0, v1_1, v1_2 or v1_3.`);
    const includeResourceData = body['includeResourceData'] === true;
    const encryptionCertificate = optionalString(body, 'encryptionCertificate') ?? null;
    const encryptionCertificateId = optionalString(body, 'encryptionCertificateId') ?? null;
    if (includeResourceData) {
      if (encryptionCertificate === null || encryptionCertificateId === null) {
        throw badRequest('encryptionCertificate and encryptionCertificateId are required when includeResourceData is true.');
      }
      try {
        new X509Certificate(Buffer.from(encryptionCertificate, 'base64'));
      } catch {
        throw badRequest('encryptionCertificate must be a base64-encoded X.509 certificate.');
      }
    }
    const expiresAt = this.expiryFor(resource, requestedExpiry, { includeResourceData, hasLifecycleUrl: lifecycleNotificationUrl !== null });

    const { store, options } = this.deps;
    const scope = `${caller.tenantId}|${caller.clientId.toLowerCase()}`;
    const key = this.duplicateKey(caller, changeType, resource, notificationUrl);
    const active = store.activeFor(caller.tenantId, caller.clientId);
    const duplicate = active.find((s) => this.duplicateKey(caller, s.changeType, s.resource, s.notificationUrl) === key);
    if (duplicate !== undefined || store.isPending(key)) {
      const id = duplicate?.id ?? '(being created)';
      throw new GraphHttpError(409, 'ExtensionError', `Operation: Create; Exception: [Status Code: Conflict; Reason: Subscription Id ${id} already exists for the requested combination]`);
    }
    if (active.length + store.pendingCount(scope) >= options.maxSubscriptionsPerAppPerTenant) {
      throw new GraphHttpError(403, 'ExtensionError', `Operation: Create; Exception: [Status Code: Forbidden; Reason: App '${caller.clientId}' has reached its limit of '${options.maxSubscriptionsPerAppPerTenant}' subscriptions on tenant '${caller.tenantId}']`);
    }

    store.reserve(key);
    try {
      await this.validateAll([
        { url: notificationUrl, purpose: 'notificationUrl' },
        ...(lifecycleNotificationUrl === null ? [] : [{ url: lifecycleNotificationUrl, purpose: 'lifecycleNotificationUrl' as const }]),
      ]);
    } finally {
      store.release(key);
    }

    const now = this.deps.now();
    // The lifetime is measured again after validation, which may have taken seconds.
    const subscription: StoredSubscription = {
      id: randomUUID(),
      sequence: store.nextSequence(),
      tenantId: caller.tenantId,
      applicationId: caller.clientId,
      creatorId: stableGuid('service-principal', caller.clientId.toLowerCase(), caller.tenantId),
      resource,
      changeType,
      notificationUrl,
      lifecycleNotificationUrl,
      expiresAt: Math.max(expiresAt, now + MIN_SUBSCRIPTION_MINUTES * MINUTE),
      clientState,
      includeResourceData,
      encryptionCertificate,
      encryptionCertificateId,
      latestSupportedTlsVersion: tls,
      createdAt: now,
      renewals: 0,
      reauthorizations: 0,
    };
    store.insert(subscription);
    return {
      status: 201,
      headers: { location: `${this.deps.graphRoot()}/subscriptions/${subscription.id}` },
      body: { '@odata.context': `${this.deps.graphRoot()}/$metadata#subscriptions/$entity`, ...toGraphJson(subscription, { includeClientState: true }) },
    };
  }

  list(caller: GraphCaller, skiptoken: string | null): GraphResponse {
    let after = 0;
    if (skiptoken !== null) {
      const cursor = decodeCursor(skiptoken);
      if (cursor === undefined || cursor.tenantId !== caller.tenantId || cursor.clientId !== caller.clientId.toLowerCase()) {
        throw new GraphHttpError(400, 'BadRequest', 'The $skiptoken is invalid or expired.');
      }
      after = cursor.after;
    }
    const remaining = this.deps.store.activeFor(caller.tenantId, caller.clientId).filter((s) => s.sequence > after);
    const page = remaining.slice(0, this.deps.options.listPageSize);
    const last = page[page.length - 1];
    const body: Record<string, unknown> = {
      '@odata.context': `${this.deps.graphRoot()}/$metadata#subscriptions`,
      value: page.map((s) => toGraphJson(s, { includeClientState: false })),
    };
    if (remaining.length > page.length && last !== undefined) {
      const token = encodeCursor({ tenantId: caller.tenantId, clientId: caller.clientId.toLowerCase(), after: last.sequence });
      body['@odata.nextLink'] = `${this.deps.graphRoot()}/subscriptions?$skiptoken=${token}`;
    }
    return { status: 200, body };
  }

  get(caller: GraphCaller, id: string): GraphResponse {
    const subscription = this.deps.store.findActive(id, caller.tenantId, caller.clientId);
    if (subscription === undefined) throw notFound();
    return { status: 200, body: { '@odata.context': `${this.deps.graphRoot()}/$metadata#subscriptions/$entity`, ...toGraphJson(subscription, { includeClientState: true }) } };
  }

  async update(caller: GraphCaller, id: string, rawBody: unknown): Promise<GraphResponse> {
    const body = asObject(rawBody);
    const subscription = this.deps.store.findActive(id, caller.tenantId, caller.clientId);
    if (subscription === undefined) throw notFound();
    if (body['lifecycleNotificationUrl'] !== undefined) throw badRequest('lifecycleNotificationUrl can only be set when the subscription is created.');
    const expiryRaw = body['expirationDateTime'];
    const urlRaw = optionalString(body, 'notificationUrl');
    if ((expiryRaw === undefined || expiryRaw === null || expiryRaw === '') && urlRaw === undefined) {
      throw badRequest("Subscription must contain either the 'expirationDateTime' or 'notificationUrl' property and its value.");
    }
    const options = { includeResourceData: subscription.includeResourceData, hasLifecycleUrl: subscription.lifecycleNotificationUrl !== null };
    const expiresAt = expiryRaw === undefined || expiryRaw === null || expiryRaw === '' ? undefined : this.expiryFor(subscription.resource, parseDate(expiryRaw), options);
    if (urlRaw !== undefined && urlRaw !== subscription.notificationUrl) {
      await this.validateAll([{ url: this.checkUrl('notificationUrl', urlRaw), purpose: 'notificationUrl' }]);
    }
    // The subscription may have been deleted or removed while the new URL was being validated.
    if (this.deps.store.findActive(id, caller.tenantId, caller.clientId) === undefined) throw notFound();
    const now = this.deps.now();
    if (expiresAt !== undefined) subscription.expiresAt = expiresAt;
    if (urlRaw !== undefined) subscription.notificationUrl = urlRaw;
    subscription.renewals += 1;
    subscription.renewedAt = now;
    this.reauthorize(subscription, now);
    return { status: 200, body: { '@odata.context': `${this.deps.graphRoot()}/$metadata#subscriptions/$entity`, ...toGraphJson(subscription, { includeClientState: true }) } };
  }

  reauthorizeById(caller: GraphCaller, id: string): GraphResponse {
    const subscription = this.deps.store.findActive(id, caller.tenantId, caller.clientId);
    if (subscription === undefined) throw notFound();
    this.reauthorize(subscription, this.deps.now());
    return { status: 204 };
  }

  delete(caller: GraphCaller, id: string): GraphResponse {
    const subscription = this.deps.store.findActive(id, caller.tenantId, caller.clientId);
    if (subscription === undefined) throw notFound();
    this.deps.store.end(subscription, 'deleted');
    return { status: 204 };
  }

  private reauthorize(subscription: StoredSubscription, now: number): void {
    delete subscription.reauthorizationRequiredSince;
    subscription.reauthorizedAt = now;
    subscription.reauthorizations += 1;
  }
}

interface Cursor {
  tenantId: string;
  clientId: string;
  after: number;
}

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.tenantId, cursor.clientId, cursor.after])).toString('base64url');
}

function decodeCursor(token: string): Cursor | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (!Array.isArray(value) || value.length !== 3) return undefined;
    const [tenantId, clientId, after] = value as unknown[];
    if (typeof tenantId !== 'string' || typeof clientId !== 'string' || typeof after !== 'number') return undefined;
    return { tenantId, clientId, after };
  } catch {
    return undefined;
  }
}
