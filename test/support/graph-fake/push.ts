/**
 * Notifications as Graph delivers them (Microsoft Graph docs): a changeNotificationCollection POSTed to the
 * subscription's notificationUrl (lifecycle events to its lifecycleNotificationUrl), carrying the
 * subscription's clientState, tenantId, subscriptionId and subscriptionExpirationDateTime.
 */
import { randomUUID } from 'node:crypto';
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
}

export type PushItem = { subscriptionId: string; change: ChangeInput } | { subscriptionId: string; lifecycleEvent: LifecycleEvent };

export interface PushResult {
  url: string;
  payload: { value: Record<string, unknown>[] };
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

  private changeNotification(subscription: StoredSubscription, change: ChangeInput): Record<string, unknown> {
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
      ...(subscription.clientState === null ? {} : { clientState: subscription.clientState }),
      tenantId: subscription.tenantId,
    };
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

  async pushChange(subscriptionId: string, change: ChangeInput, options: { ignorePause?: boolean } = {}): Promise<PushResult> {
    const subscription = this.activeSubscription(subscriptionId);
    const notification = this.changeNotification(subscription, change);
    if (subscription.reauthorizationRequiredSince !== undefined && options.ignorePause !== true) {
      // Graph pauses change delivery until the subscription is reauthorized (Microsoft Graph docs).
      return this.record({ url: subscription.notificationUrl, payload: { value: [notification] }, delivered: false, status: 0, body: '', durationMs: 0, reason: 'paused: reauthorization required' });
    }
    return this.send(subscription.notificationUrl, [notification]);
  }

  async pushLifecycle(subscriptionId: string, event: LifecycleEvent): Promise<PushResult> {
    const subscription = this.activeSubscription(subscriptionId);
    const notification = this.lifecycleNotification(subscription, event);
    this.applyLifecycle(subscription, event);
    return this.send(subscription.lifecycleNotificationUrl ?? subscription.notificationUrl, [notification]);
  }

  /** One POST carrying several notifications (of several subscriptions, even tenants) for the same URL. */
  async pushBatch(items: readonly PushItem[]): Promise<PushResult> {
    if (items.length === 0) throw new Error('graph-fake: pushBatch needs at least one item');
    const built = items.map((item) => {
      const subscription = this.activeSubscription(item.subscriptionId);
      return 'change' in item
        ? { url: subscription.notificationUrl, notification: this.changeNotification(subscription, item.change), subscription }
        : { url: subscription.lifecycleNotificationUrl ?? '', notification: this.lifecycleNotification(subscription, item.lifecycleEvent), subscription, event: item.lifecycleEvent };
    });
    const url = built[0]?.url ?? '';
    if (built.some((b) => b.url !== url)) throw new Error('graph-fake: every item of a batch must go to the same URL');
    for (const b of built) if ('event' in b && b.event !== undefined) this.applyLifecycle(b.subscription, b.event);
    return this.send(url, built.map((b) => b.notification));
  }

  private async send(url: string, value: Record<string, unknown>[]): Promise<PushResult> {
    const payload = { value };
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
