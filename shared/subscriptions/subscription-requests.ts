/**
 * What renewal and the reconciler both decide about a subscription request: the expiry to ask for, how a new
 * subscription is addressed, and which Graph refusals are quota rather than consent. One place for each.
 */
import type { GraphRequestError } from '../graph/graph-client';
import { lifetimeOf, maxLifetimeMinutes, MIN_SUBSCRIPTION_MINUTES } from '../graph/subscription-lifetimes';
import type { CreateSubscriptionInput } from '../graph/subscriptions-api';
import type { CurrentEncryptionCertificate } from '../secrets/encryption-keys';
import type { ChangeType } from './declarations';
import { MissingEncryptionCertificateError } from './integration-graphs';

/** The port renewal, lifecycle handling and the reconciler read an integration's current encryption certificate with. */
export interface EncryptionCertificatePort {
  /**
   * @throws MissingEncryptionCertificateError. Absent: this caller cannot read certificates, so subscriptions with
   * resource data cannot be created or renewed by it.
   */
  encryptionCertificateOf?(integrationId: string): Promise<CurrentEncryptionCertificate>;
}

/**
 * The integration's current encryption certificate through the port, for a request that sends it to Graph.
 * `use.keeps`: the certificate the subscription already has (a renewal), which is not sent again, so its expiry
 * does not stop the renewal.
 * @throws MissingEncryptionCertificateError, also when the certificate has expired: Graph refuses it, and only the
 * operator can make a new one, so nothing is asked of Graph.
 */
export async function currentEncryptionCertificate(
  port: EncryptionCertificatePort,
  integrationId: string,
  use: { now: Date; keeps?: string | undefined },
): Promise<CurrentEncryptionCertificate> {
  if (port.encryptionCertificateOf === undefined) {
    throw new MissingEncryptionCertificateError(integrationId, 'encryption certificates cannot be read here');
  }
  const certificate = await port.encryptionCertificateOf(integrationId);
  if (certificate.id !== use.keeps && certificate.notAfter.getTime() <= use.now.getTime()) {
    throw new MissingEncryptionCertificateError(integrationId, `the current encryption certificate "${certificate.id}" expired ${certificate.notAfter.toISOString()}`);
  }
  return certificate;
}

/**
 * Requested expiries stay this far below Graph's maximum lifetime, so a clock of ours running ahead of Graph's
 * never asks for more than the maximum (Graph refuses that with 400).
 */
export const EXPIRY_SAFETY_MARGIN_MINUTES = 2;

/** What changes a subscription's lifetime besides its resource; every graph-relay subscription has a lifecycle URL. */
export interface LifetimeOptions {
  /** Rich subscriptions live shorter for some kinds (Outlook: 1 day instead of 7). */
  includeResourceData?: boolean;
}

/** The longest lifetime, in minutes, graph-relay asks for: Graph's maximum less the safety margin. */
function maxRequestMinutes(resource: string, options: LifetimeOptions): number {
  return maxLifetimeMinutes(resource, { includeResourceData: options.includeResourceData === true, hasLifecycleUrl: true }) - EXPIRY_SAFETY_MARGIN_MINUTES;
}

/** The longest expiry Graph grants the resource from `now` (subscriptions always carry a lifecycle URL), less the margin. */
export function maximumExpiry(resource: string, now: Date, options: LifetimeOptions = {}): Date {
  return new Date(now.getTime() + maxRequestMinutes(resource, options) * 60_000);
}

/** A requested lifetime Graph would refuse (400): said before any call, with the allowed range. */
export class ExpiryOutOfRangeError extends Error {
  override readonly name = 'ExpiryOutOfRangeError';
}

/**
 * The expiry for a lifetime an operator asked for: refused when it is beyond the resource's maximum (from the
 * lifetime table, with a lifecycle URL, as every graph-relay subscription has) or under Graph's 45 minutes.
 * @throws ExpiryOutOfRangeError, or UnsupportedResourceError listing the supported kinds.
 */
export function requestedExpiry(resource: string, now: Date, lifetimeMs: number, options: LifetimeOptions = {}): Date {
  const maxMinutes = maxRequestMinutes(resource, options);
  const minutes = lifetimeMs / 60_000;
  const kind = `${lifetimeOf(resource).kind}${options.includeResourceData === true ? ' (with resource data)' : ''}`;
  if (minutes > maxMinutes) {
    throw new ExpiryOutOfRangeError(
      `a lifetime of ${formatMinutes(minutes)} is beyond the maximum for ${kind} subscriptions: at most ${formatMinutes(maxMinutes)} (${maxMinutes} minutes)`,
    );
  }
  if (minutes < MIN_SUBSCRIPTION_MINUTES) {
    throw new ExpiryOutOfRangeError(`a lifetime of ${formatMinutes(minutes)} is under Graph's minimum of ${MIN_SUBSCRIPTION_MINUTES} minutes`);
  }
  return new Date(now.getTime() + lifetimeMs);
}

function formatMinutes(minutes: number): string {
  if (minutes >= 1440 && minutes % 1440 === 0) return `${minutes / 1440} days`;
  if (minutes >= 1440) return `${(minutes / 1440).toFixed(1)} days`;
  if (minutes >= 60 && minutes % 60 === 0) return `${minutes / 60} hours`;
  return `${Math.round(minutes)} minutes`;
}

/**
 * `POST /subscriptions` body: both notification URLs are the integration's webhook; clientState its secret. With
 * `encryption` (the integration's current encryption certificate) the subscription includes resource data, and its
 * default expiry is the shorter maximum of rich subscriptions.
 */
export function newSubscriptionRequest(input: {
  resource: string;
  changeTypes: readonly ChangeType[];
  notificationUrl: string;
  clientState: string;
  now: Date;
  /** Default: the resource's maximum. */
  expiresAt?: Date;
  encryption?: Pick<CurrentEncryptionCertificate, 'id' | 'certificateBase64'>;
}): CreateSubscriptionInput {
  const { encryption } = input;
  return {
    changeType: input.changeTypes.join(','),
    notificationUrl: input.notificationUrl,
    lifecycleNotificationUrl: input.notificationUrl,
    resource: input.resource,
    expirationDateTime: input.expiresAt ?? maximumExpiry(input.resource, input.now, { includeResourceData: encryption !== undefined }),
    clientState: input.clientState,
    ...(encryption === undefined
      ? {}
      : { includeResourceData: true, encryptionCertificate: encryption.certificateBase64, encryptionCertificateId: encryption.id }),
  };
}

/**
 * The PATCH of a renewal: the maximum expiry for the record's kind, and, when the integration's current encryption
 * certificate is not the one the (rich) subscription has, that certificate too (rotation).
 */
export function renewalRequest(
  record: { resource: string; includeResourceData?: boolean; encryptionCertificateId?: string },
  now: Date,
  current: Pick<CurrentEncryptionCertificate, 'id' | 'certificateBase64'> | undefined,
): { expirationDateTime: Date; encryptionCertificate?: string; encryptionCertificateId?: string } {
  const rich = record.includeResourceData === true;
  const expirationDateTime = maximumExpiry(record.resource, now, { includeResourceData: rich });
  if (!rich || current === undefined || current.id === record.encryptionCertificateId) return { expirationDateTime };
  return { expirationDateTime, encryptionCertificate: current.certificateBase64, encryptionCertificateId: current.id };
}

/**
 * Graph's 403 for a subscription quota: not a consent problem. Graph words it per resource, e.g. "App '…' has
 * reached its limit of '100' … subscription on tenant '…'" (Teams, directory) or "Operation: Create; Exception:
 * [Status Code: Forbidden; Reason: Maximum number of subscriptions has been reached]" (OneDrive, reported in
 * microsoftgraph/microsoft-graph-docs#21403), and "The subscription quota for the tenant has reached its limit."
 */
export function isQuotaExceeded(error: GraphRequestError): boolean {
  return error.status === 403 && /reached its limit|maximum number of subscriptions has been reached|subscription quota/i.test(error.message);
}
