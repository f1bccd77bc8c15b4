/**
 * Notifications as Graph delivers them (Microsoft Graph docs): a changeNotificationCollection POSTed to the
 * subscription's notificationUrl (lifecycle events to its lifecycleNotificationUrl), carrying the
 * subscription's clientState, tenantId, subscriptionId and subscriptionExpirationDateTime.
 */
import { createHash, randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import type { EncryptedContent } from '../../shared/rich/encrypted-content';
import { v2Claims, type FakeJwks } from '../jwks';
import { encryptContent } from '../rich-content';
import { notificationDateTime } from './errors';
import type { OutboundClient } from './http-client';
import type { StoredSubscription, SubscriptionStore } from './store';

export type ChangeType = 'created' | 'updated' | 'deleted';
export type LifecycleEvent = 'reauthorizationRequired' | 'subscriptionRemoved' | 'missed';

export interface ChangeInput {
  changeType: ChangeType;
  /** Default: `{subscription resource}/{resourceData.id}`. */
  resource?: string;
  /** Default: `{ '@odata.type', '@odata.id', id }` for a new id. */
  resourceData?: Record<string, unknown>;
  /** The optional notification `id` (Outlook sends one). */
  id?: string;
  /**
   * For a subscription with includeResourceData: the resource sent encrypted (`encryptedContent`). Default:
   * `resourceData`.
   */
  content?: Record<string, unknown>;
}

/**
 * How a rich notification is sent: as Graph does by default, or spoiled in one way, for tests of the receiver.
 * Applies to the items of subscriptions with includeResourceData.
 */
export interface RichPushOptions {
  /** Which certificate encrypts: the subscription's current one (default) or one a PATCH replaced. */
  certificateId?: string;
  /**
   * `valid` (default): one v2 token per (app, tenant) with resource data, signed by the fake's JWKS, aud = the app.
   * `bad-signature`: signatures replaced by random bytes; `wrong-audience`: aud another app; `expired`: exp an hour
   * ago; `none`: no validationTokens at all.
   */
  tokens?: 'valid' | 'bad-signature' | 'wrong-audience' | 'expired' | 'none';
  /** `bad-data-signature`: the content's HMAC (dataSignature) does not match its data. */
  content?: 'valid' | 'bad-data-signature';
}

export interface PushOptions {
  /** Deliver although the subscription awaits reauthorization. */
  ignorePause?: boolean;
  rich?: RichPushOptions;
}

export type PushItem = { subscriptionId: string; change: ChangeInput } | { subscriptionId: string; lifecycleEvent: LifecycleEvent };

export interface PushResult {
  url: string;
  payload: { value: Record<string, unknown>[]; validationTokens?: string[] };
  /** True when the endpoint answered 2xx. */
  delivered: boolean;
  /** The endpoint's status; 0 when nothing was sent or no response arrived. */
  status: number;
  body: string;
  durationMs: number;
  /** Why nothing was sent (delivery paused), or the network error. */
  reason?: string;
}

const ODATA_TYPES: Record<string, string> = {
  messages: '#Microsoft.Graph.Message',
  events: '#Microsoft.Graph.Event',
  contacts: '#Microsoft.Graph.Contact',
  users: '#Microsoft.Graph.User',
  groups: '#Microsoft.Graph.Group',
  root: '#Microsoft.Graph.DriveItem',
  chats: '#Microsoft.Graph.Chat',
  channels: '#Microsoft.Graph.Channel',
  alerts: '#Microsoft.Graph.Alert',
};

function odataType(resource: string): string {
  const segments = resource.split('?')[0]?.split('/').filter((s) => s !== '') ?? [];
  const last = (segments[segments.length - 1] ?? '').replace(/\(.*$/, '').toLowerCase();
  return ODATA_TYPES[last] ?? '#Microsoft.Graph.Entity';
}

export class NotificationPusher {
  private readonly log: PushResult[] = [];

  constructor(
    private readonly store: SubscriptionStore,
    private readonly client: OutboundClient,
    private readonly now: () => number,
    private readonly timeoutMs: number,
    /** Signs validation tokens as the Microsoft identity platform would (the fake's JWKS). */
    private readonly jwks: Pick<FakeJwks, 'sign'>,
  ) {}

  deliveries(): PushResult[] {
    return [...this.log];
  }

  private activeSubscription(subscriptionId: string): StoredSubscription {
    const subscription = this.store.get(subscriptionId);
    if (subscription === undefined) throw new Error(`graph-fake: no subscription ${subscriptionId}`);
    const state = this.store.stateOf(subscription);
    if (state !== 'active') throw new Error(`graph-fake: subscription ${subscriptionId} is ${state}; Graph sends nothing for it`);
    return subscription;
  }

  private changeNotification(subscription: StoredSubscription, change: ChangeInput, rich: RichPushOptions = {}): Record<string, unknown> {
    const subscribed = subscription.changeType.split(',');
    if (!subscribed.includes(change.changeType)) {
      throw new Error(`graph-fake: subscription ${subscription.id} is for '${subscription.changeType}', not '${change.changeType}'`);
    }
    const itemId = typeof change.resourceData?.['id'] === 'string' ? change.resourceData['id'] : randomUUID();
    const base = (subscription.resource.split('?')[0] ?? subscription.resource).replace(/^\/+/, '');
    const resource = change.resource ?? `${base}/${itemId}`;
    const resourceData = change.resourceData ?? { '@odata.type': odataType(subscription.resource), '@odata.id': resource, id: itemId };
    return {
      ...(change.id === undefined ? {} : { id: change.id }),
      subscriptionId: subscription.id,
      subscriptionExpirationDateTime: notificationDateTime(subscription.expiresAt),
      changeType: change.changeType,
      resource,
      resourceData,
      ...(subscription.includeResourceData ? { encryptedContent: this.encrypt(subscription, change.content ?? resourceData, rich) } : {}),
      ...(subscription.clientState === null ? {} : { clientState: subscription.clientState }),
      tenantId: subscription.tenantId,
    };
  }

  /** `encryptedContent` as Graph makes it: the resource under a fresh AES key, wrapped for the subscription's certificate. */
  private encrypt(subscription: StoredSubscription, content: unknown, rich: RichPushOptions): EncryptedContent {
    const certificates = [
      ...(subscription.encryptionCertificate === null || subscription.encryptionCertificateId === null
        ? []
        : [{ certificate: subscription.encryptionCertificate, id: subscription.encryptionCertificateId }]),
      ...subscription.previousEncryptionCertificates,
    ];
    const chosen = rich.certificateId === undefined ? certificates[0] : certificates.find((c) => c.id === rich.certificateId);
    if (chosen === undefined) {
      throw new Error(`graph-fake: subscription ${subscription.id} has no encryption certificate ${rich.certificateId ?? ''}; it has ${certificates.map((c) => c.id).join(', ')}`);
    }
    const der = Buffer.from(chosen.certificate, 'base64');
    const encrypted = encryptContent(content, {
      publicKey: new X509Certificate(der).publicKey,
      id: chosen.id,
      thumbprint: createHash('sha1').update(der).digest('hex').toUpperCase(),
    });
    if (rich.content !== 'bad-data-signature') return encrypted;
    return { ...encrypted, dataSignature: randomBytes(32).toString('base64') };
  }

  /** One token per (app, tenant) that has items with resource data in the POST (Microsoft Graph docs). */
  private async validationTokens(subscriptions: readonly StoredSubscription[], rich: RichPushOptions): Promise<string[] | undefined> {
    const pairs = new Map<string, { clientId: string; tenantId: string }>();
    for (const s of subscriptions) if (s.includeResourceData) pairs.set(`${s.applicationId.toLowerCase()}|${s.tenantId}`, { clientId: s.applicationId, tenantId: s.tenantId });
    if (pairs.size === 0 || rich.tokens === 'none') return undefined;
    const nowSeconds = Math.floor(this.now() / 1000);
    return Promise.all(
      [...pairs.values()].map(async ({ clientId, tenantId }) => {
        const claims = v2Claims({
          tenantId,
          audience: rich.tokens === 'wrong-audience' ? randomUUID() : clientId,
          issuedAt: rich.tokens === 'expired' ? nowSeconds - 2 * 3600 : nowSeconds,
        });
        const token = await this.jwks.sign(claims);
        if (rich.tokens !== 'bad-signature') return token;
        return `${token.split('.').slice(0, 2).join('.')}.${randomBytes(256).toString('base64url')}`;
      }),
    );
  }

  private lifecycleNotification(subscription: StoredSubscription, event: LifecycleEvent): Record<string, unknown> {
    if (subscription.lifecycleNotificationUrl === null) {
      throw new Error(`graph-fake: subscription ${subscription.id} has no lifecycleNotificationUrl, so Graph cannot send '${event}'`);
    }
    const notification = {
      lifecycleEvent: event,
      subscriptionId: subscription.id,
      subscriptionExpirationDateTime: notificationDateTime(subscription.expiresAt),
      ...(subscription.clientState === null ? {} : { clientState: subscription.clientState }),
      tenantId: subscription.tenantId,
    };
    return notification;
  }

  /** The event's effect on Graph's side, which happens whether or not the delivery succeeds. */
  private applyLifecycle(subscription: StoredSubscription, event: LifecycleEvent): void {
    if (event === 'reauthorizationRequired') subscription.reauthorizationRequiredSince ??= this.now();
    if (event === 'subscriptionRemoved') this.store.end(subscription, 'removed');
  }

  /** A change notification; for a subscription with includeResourceData, a rich one (encryptedContent, validationTokens). */
  async pushChange(subscriptionId: string, change: ChangeInput, options: PushOptions = {}): Promise<PushResult> {
    const subscription = this.activeSubscription(subscriptionId);
    const notification = this.changeNotification(subscription, change, options.rich);
    const validationTokens = await this.validationTokens([subscription], options.rich ?? {});
    if (subscription.reauthorizationRequiredSince !== undefined && options.ignorePause !== true) {
      // Graph pauses change delivery until the subscription is reauthorized (Microsoft Graph docs).
      return this.record({ url: subscription.notificationUrl, payload: { value: [notification] }, delivered: false, status: 0, body: '', durationMs: 0, reason: 'paused: reauthorization required' });
    }
    return this.send(subscription.notificationUrl, [notification], validationTokens);
  }

  async pushLifecycle(subscriptionId: string, event: LifecycleEvent): Promise<PushResult> {
    const subscription = this.activeSubscription(subscriptionId);
    const notification = this.lifecycleNotification(subscription, event);
    this.applyLifecycle(subscription, event);
    return this.send(subscription.lifecycleNotificationUrl ?? subscription.notificationUrl, [notification]);
  }

  /** One POST carrying several notifications (of several subscriptions, even tenants) for the same URL. */
  async pushBatch(items: readonly PushItem[], options: { rich?: RichPushOptions } = {}): Promise<PushResult> {
    if (items.length === 0) throw new Error('graph-fake: pushBatch needs at least one item');
    const built = items.map((item) => {
      const subscription = this.activeSubscription(item.subscriptionId);
      return 'change' in item
        ? { url: subscription.notificationUrl, notification: this.changeNotification(subscription, item.change, options.rich), subscription }
        : { url: subscription.lifecycleNotificationUrl ?? '', notification: this.lifecycleNotification(subscription, item.lifecycleEvent), subscription, event: item.lifecycleEvent };
    });
    const url = built[0]?.url ?? '';
    if (built.some((b) => b.url !== url)) throw new Error('graph-fake: every item of a batch must go to the same URL');
    for (const b of built) if ('event' in b && b.event !== undefined) this.applyLifecycle(b.subscription, b.event);
    const withChanges = built.filter((b) => !('event' in b)).map((b) => b.subscription);
    return this.send(url, built.map((b) => b.notification), await this.validationTokens(withChanges, options.rich ?? {}));
  }

  private async send(url: string, value: Record<string, unknown>[], validationTokens?: string[]): Promise<PushResult> {
    const payload = { value, ...(validationTokens === undefined ? {} : { validationTokens }) };
    const result = await this.client.post(url, JSON.stringify(payload), { 'content-type': 'application/json; charset=utf-8' }, this.timeoutMs);
    return this.record({
      url,
      payload,
      delivered: result.status >= 200 && result.status < 300,
      status: result.status,
      body: result.body,
      durationMs: result.durationMs,
      ...(result.error === undefined ? {} : { reason: result.error }),
    });
  }

  private record(result: PushResult): PushResult {
    this.log.push(result);
    return result;
  }
}
