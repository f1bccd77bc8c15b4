/** In-memory subscriptions, scoped by app and tenant as Graph scopes them; expiry is read from the clock lazily. */
import { graphDateTime } from './errors';

export type SubscriptionState = 'active' | 'expired' | 'deleted' | 'removed';

export interface StoredSubscription {
  id: string;
  /** Creation order, the list order and the paging cursor. */
  sequence: number;
  tenantId: string;
  applicationId: string;
  creatorId: string;
  resource: string;
  changeType: string;
  notificationUrl: string;
  lifecycleNotificationUrl: string | null;
  expiresAt: number;
  clientState: string | null;
  includeResourceData: boolean;
  encryptionCertificate: string | null;
  encryptionCertificateId: string | null;
  /** Certificates a PATCH replaced, oldest first: a push may still use one (`certificateId`), as Graph may for a while. */
  previousEncryptionCertificates: { certificate: string; id: string }[];
  latestSupportedTlsVersion: string;
  createdAt: number;
  renewals: number;
  renewedAt?: number;
  /** Set by a reauthorizationRequired lifecycle event; cleared by reauthorize or PATCH. */
  reauthorizationRequiredSince?: number;
  reauthorizedAt?: number;
  reauthorizations: number;
  ended?: { at: number; reason: 'deleted' | 'removed' };
}

/** What tests and benchmarks see of a subscription. */
export type FakeSubscription = Readonly<StoredSubscription> & { state: SubscriptionState; expirationDateTime: string };

export class SubscriptionStore {
  private readonly byId = new Map<string, StoredSubscription>();
  /** Per app and tenant, in creation order: Graph's own scope for lists, duplicates and quota. */
  private readonly byScope = new Map<string, StoredSubscription[]>();
  private readonly pending = new Map<string, number>();
  private sequence = 0;

  constructor(private readonly now: () => number) {}

  stateOf(subscription: StoredSubscription): SubscriptionState {
    if (subscription.ended !== undefined) return subscription.ended.reason;
    return this.now() >= subscription.expiresAt ? 'expired' : 'active';
  }

  nextSequence(): number {
    this.sequence += 1;
    return this.sequence;
  }

  insert(subscription: StoredSubscription): void {
    this.byId.set(subscription.id.toLowerCase(), subscription);
    const scope = scopeOf(subscription.tenantId, subscription.applicationId);
    const inScope = this.byScope.get(scope) ?? [];
    inScope.push(subscription);
    this.byScope.set(scope, inScope);
  }

  /** Any subscription, whatever its state. */
  get(id: string): StoredSubscription | undefined {
    return this.byId.get(id.toLowerCase());
  }

  /** The active subscription with this id as the calling app in its tenant sees it. */
  findActive(id: string, tenantId: string, applicationId: string): StoredSubscription | undefined {
    const subscription = this.get(id);
    if (subscription === undefined || subscription.tenantId !== tenantId || subscription.applicationId.toLowerCase() !== applicationId.toLowerCase()) return undefined;
    return this.stateOf(subscription) === 'active' ? subscription : undefined;
  }

  activeFor(tenantId: string, applicationId: string): StoredSubscription[] {
    return (this.byScope.get(scopeOf(tenantId, applicationId)) ?? []).filter((s) => this.stateOf(s) === 'active');
  }

  all(): StoredSubscription[] {
    return [...this.byId.values()].sort((a, b) => a.sequence - b.sequence);
  }

  end(subscription: StoredSubscription, reason: 'deleted' | 'removed'): void {
    subscription.ended = { at: this.now(), reason };
  }

  /** Creates in flight (validation running) count against duplicates and quota, so concurrent creates cannot both win. */
  reserve(key: string): void {
    this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
  }

  release(key: string): void {
    const count = (this.pending.get(key) ?? 0) - 1;
    if (count > 0) this.pending.set(key, count);
    else this.pending.delete(key);
  }

  isPending(key: string): boolean {
    return this.pending.has(key);
  }

  pendingCount(scope: string): number {
    let count = 0;
    for (const [key, n] of this.pending) if (key.startsWith(`${scope}|`)) count += n;
    return count;
  }

  view(subscription: StoredSubscription): FakeSubscription {
    return { ...subscription, state: this.stateOf(subscription), expirationDateTime: graphDateTime(subscription.expiresAt) };
  }
}

const scopeOf = (tenantId: string, applicationId: string) => `${tenantId}|${applicationId.toLowerCase()}`;

/** The subscription as Graph serialises it; `clientState` is withheld where Graph withholds it (list). */
export function toGraphJson(subscription: StoredSubscription, options: { includeClientState: boolean }): Record<string, unknown> {
  return {
    id: subscription.id,
    resource: subscription.resource,
    applicationId: subscription.applicationId,
    changeType: subscription.changeType,
    clientState: options.includeClientState ? subscription.clientState : null,
    notificationUrl: subscription.notificationUrl,
    notificationQueryOptions: null,
    lifecycleNotificationUrl: subscription.lifecycleNotificationUrl,
    expirationDateTime: graphDateTime(subscription.expiresAt),
    creatorId: subscription.creatorId,
    includeResourceData: subscription.includeResourceData,
    latestSupportedTlsVersion: subscription.latestSupportedTlsVersion,
    encryptionCertificate: subscription.encryptionCertificate,
    encryptionCertificateId: subscription.encryptionCertificateId,
    notificationUrlAppId: null,
  };
}
