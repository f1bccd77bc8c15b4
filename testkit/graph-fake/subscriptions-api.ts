/**
 * Graph v1.0 /subscriptions (Microsoft Graph docs): create (after the validation handshake), list (paged, no
 * clientState), get, renew (PATCH), reauthorize, delete. Lifetimes come from shared/graph/subscription-lifetimes.ts,
 * the one place those numbers live.
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import {
  lifetimeOf,
  maxLifetimeMinutes,
  MIN_SUBSCRIPTION_MINUTES,
  resourceDataKinds,
  UnsupportedResourceError,
} from '../../shared/graph/subscription-lifetimes';
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
/** Graph's bounds for `encryptionCertificate` keys and `encryptionCertificateId` (Microsoft Graph docs). */
const ENCRYPTION_KEY_BITS = { min: 2048, max: 4096 } as const;
const MAX_ENCRYPTION_CERTIFICATE_ID_LENGTH = 128;
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

/** A rich subscription's certificate as Graph checks it: base64 DER X.509 with an RSA key of 2048-4096 bits. */
function checkEncryptionCertificate(certificate: string | undefined, certificateId: string | undefined): { certificate: string; id: string } {
  if (certificate === undefined || certificateId === undefined) {
    throw badRequest('encryptionCertificate and encryptionCertificateId are required when includeResourceData is true.');
  }
  if (certificateId.length > MAX_ENCRYPTION_CERTIFICATE_ID_LENGTH) {
    throw badRequest(`encryptionCertificateId is too long: the maximum length is ${MAX_ENCRYPTION_CERTIFICATE_ID_LENGTH} characters.`);
  }
  let x509: X509Certificate;
  try {
    const der = Buffer.from(certificate, 'base64');
    // Node also parses PEM; Graph wants base64 DER, so a body that is PEM (or not base64 at all) is refused.
    if (der.toString('base64') !== certificate.replace(/\s/g, '')) throw new Error('not base64');
    x509 = new X509Certificate(der);
  } catch {
    throw badRequest('encryptionCertificate must be a base64-encoded DER X.509 certificate.');
  }
  const key = x509.publicKey;
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (key.asymmetricKeyType !== 'rsa' || bits < ENCRYPTION_KEY_BITS.min || bits > ENCRYPTION_KEY_BITS.max) {
    throw badRequest(`encryptionCertificate must hold an RSA key of ${ENCRYPTION_KEY_BITS.min} to ${ENCRYPTION_KEY_BITS.max} bits.`);
  }
  return { certificate, id: certificateId };
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

  /** Unknown resources are refused by the lifetime check with their own message. */
  private isKnownResource(resource: string): boolean {
    try {
      lifetimeOf(resource);
      return true;
    } catch {
      return false;
    }
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
    let encryptionCertificate: string | null = null;
    let encryptionCertificateId: string | null = null;
    if (includeResourceData) {
      const checked = checkEncryptionCertificate(optionalString(body, 'encryptionCertificate'), optionalString(body, 'encryptionCertificateId'));
      encryptionCertificate = checked.certificate;
      encryptionCertificateId = checked.id;
      let supported = false;
      try {
        supported = lifetimeOf(resource).supportsResourceData === true;
      } catch (error) {
        if (!(error instanceof UnsupportedResourceError)) throw error;
      }
      if (!supported && this.isKnownResource(resource)) {
        throw badRequest(`includeResourceData is not supported for resource '${resource}': rich notifications are available for ${resourceDataKinds().join('; ')}.`);
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
      previousEncryptionCertificates: [],
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
    if ((expiryRaw === undefined || expiryRaw === null || expiryRaw === '') && urlRaw === undefined && body['encryptionCertificate'] === undefined) {
      throw badRequest("Subscription must contain either the 'expirationDateTime' or 'notificationUrl' property and its value.");
    }
    const certificateRaw = optionalString(body, 'encryptionCertificate');
    const certificateIdRaw = optionalString(body, 'encryptionCertificateId');
    let rotation: { certificate: string; id: string } | undefined;
    if (certificateRaw !== undefined || certificateIdRaw !== undefined) {
      if (!subscription.includeResourceData) throw badRequest('encryptionCertificate can only be set on a subscription with includeResourceData.');
      rotation = checkEncryptionCertificate(certificateRaw, certificateIdRaw);
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
    if (rotation !== undefined && rotation.id !== subscription.encryptionCertificateId) {
      // Graph may still send notifications encrypted with the previous certificate for a while (Microsoft Graph docs).
      if (subscription.encryptionCertificate !== null && subscription.encryptionCertificateId !== null) {
        subscription.previousEncryptionCertificates.push({ certificate: subscription.encryptionCertificate, id: subscription.encryptionCertificateId });
      }
      subscription.encryptionCertificate = rotation.certificate;
      subscription.encryptionCertificateId = rotation.id;
    }
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
