/**
 * The data set of `npm run bench:scale`: integrations of many tenants (one connection per tenant, three active
 * subscriptions per connection), in the documented item format, written in bulk with BatchWriteItem straight to
 * DynamoDB, as an operator's import or an older graph-relay would have left them: connection and subscription
 * items only, no tenant route items (`graph-relay migrate` builds those).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../local/descriptor';
import { lifetimeOf } from '../shared/graph/subscription-lifetimes';
import { keys } from '../shared/store/items';
import { toSubscriptionItem } from '../shared/store/subscription-items';
import type { ChangeType } from '../shared/subscriptions/declarations';
import { sleep } from '../shared/util/batching';
import { notification } from '../testkit/notification';

/** What each connection declares, and the subscriptions recorded for it (one per declaration). */
const DECLARED: readonly { resource: string; changeTypes: ChangeType[] }[] = [
  { resource: 'users', changeTypes: ['created', 'updated', 'deleted'] },
  { resource: 'groups', changeTypes: ['created', 'updated', 'deleted'] },
  { resource: 'communications/callRecords', changeTypes: ['created'] },
];
export const SUBSCRIPTIONS_PER_CONNECTION = DECLARED.length;

export interface ScaleTenant {
  tenantId: string;
  connectionId: string;
  subscriptionIds: string[];
}

export interface ScaleIntegration {
  integrationId: string;
  webhookSecret: string;
  tenants: ScaleTenant[];
}

/** Ids and secrets only; the items are built while they are written. */
export function makeIntegration(integrationId: string, tenantCount: number): ScaleIntegration {
  return {
    integrationId,
    // 16-128 printable characters (the CLI's rule).
    webhookSecret: `scale-${randomBytes(18).toString('base64url')}`,
    tenants: Array.from({ length: tenantCount }, (_, i) => ({
      tenantId: randomUUID(),
      connectionId: `conn-${String(i).padStart(6, '0')}`,
      subscriptionIds: DECLARED.map(() => randomUUID()),
    })),
  };
}

/** The items of one tenant: its connection and its subscriptions. */
function itemsOf(integration: ScaleIntegration, tenant: ScaleTenant, at: string, now: number): Record<string, unknown>[] {
  const { integrationId } = integration;
  const connection = {
    ...keys.connection(integrationId, tenant.connectionId),
    type: 'connection',
    integrationId,
    connectionId: tenant.connectionId,
    tenantId: tenant.tenantId,
    subscriptions: DECLARED.map((d) => `${d.resource}:${d.changeTypes.join(',')}`),
    createdAt: at,
    updatedAt: at,
  };
  const subscriptions = DECLARED.map((d, i) =>
    toSubscriptionItem({
      integrationId,
      subscriptionId: tenant.subscriptionIds[i] as string,
      connectionId: tenant.connectionId,
      tenantId: tenant.tenantId,
      resource: d.resource,
      changeTypes: d.changeTypes,
      expiresAt: new Date(now + lifetimeOf(d.resource).maxMinutes * 60_000 - 60_000).toISOString(),
      status: 'active',
      createdAt: at,
      updatedAt: at,
    }) as Record<string, unknown>,
  );
  return [connection, ...subscriptions];
}

export interface BulkLoadReport {
  items: number;
  connections: number;
  subscriptions: number;
  calls: number;
  /** Calls made again for items DynamoDB left unprocessed. */
  retries: number;
  ms: number;
  itemsPerSecond: number;
}

/**
 * Writes every connection and subscription item of the integrations with BatchWriteItem (25 items a call),
 * `concurrency` calls in flight, straight to `endpoint`. Unprocessed items are sent again with backoff.
 */
export async function bulkLoad(options: {
  endpoint: string;
  region: string;
  tableName: string;
  integrations: readonly ScaleIntegration[];
  concurrency: number;
  log: (line: string) => void;
}): Promise<BulkLoadReport> {
  const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: options.region, credentials: LOCAL_CREDENTIALS, endpoint: options.endpoint }));
  const at = new Date().toISOString();
  const now = Date.now();
  const connections = options.integrations.reduce((n, i) => n + i.tenants.length, 0);
  const subscriptions = connections * SUBSCRIPTIONS_PER_CONNECTION;
  const total = connections + subscriptions;
  function* batches(): Generator<Record<string, unknown>[]> {
    let batch: Record<string, unknown>[] = [];
    for (const integration of options.integrations) {
      for (const tenant of integration.tenants) {
        for (const item of itemsOf(integration, tenant, at, now)) {
          batch.push(item);
          if (batch.length === 25) {
            yield batch;
            batch = [];
          }
        }
      }
    }
    if (batch.length > 0) yield batch;
  }
  const source = batches();
  let written = 0;
  let calls = 0;
  let retries = 0;
  const started = performance.now();
  let lastProgress = started;
  const progress = () => {
    const elapsed = (performance.now() - started) / 1000;
    options.log(`bulk load: ${written.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} items (${Math.round(written / Math.max(elapsed, 0.001)).toLocaleString('en-US')} items/s, ${elapsed.toFixed(0)} s)`);
  };
  const worker = async () => {
    for (;;) {
      const next = source.next();
      if (next.done === true) return;
      let pending = next.value.map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 0; pending.length > 0; attempt += 1) {
        if (attempt > 0) {
          retries += 1;
          if (attempt > 20) throw new Error(`DynamoDB left ${pending.length} items unprocessed 20 times in a row`);
          await sleep(Math.min(2000, 50 * 2 ** attempt) * Math.random());
        }
        calls += 1;
        const result = await client.send(new BatchWriteCommand({ RequestItems: { [options.tableName]: pending } }));
        const left = (result.UnprocessedItems?.[options.tableName] ?? []) as typeof pending;
        written += pending.length - left.length;
        pending = left;
      }
      if (performance.now() - lastProgress >= 2000) {
        lastProgress = performance.now();
        progress();
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, worker));
  } finally {
    client.destroy();
  }
  progress();
  const ms = performance.now() - started;
  return { items: written, connections, subscriptions, calls, retries, ms, itemsPerSecond: written / (ms / 1000) };
}

/** A fresh notification (new resource id, so never a duplicate) for one of the tenant's subscriptions. */
export function notificationBody(integration: ScaleIntegration, tenant: ScaleTenant, subscriptionIndex: number): string {
  const subscriptionId = tenant.subscriptionIds[subscriptionIndex % tenant.subscriptionIds.length] as string;
  return JSON.stringify({ value: [notification({ tenantId: tenant.tenantId, clientState: integration.webhookSecret, subscriptionId, changeType: 'updated' })] });
}

/** One fresh notification for each of the tenants given (a sweep's batch), each to one of its subscriptions. */
export function notificationsBody(integration: ScaleIntegration, tenants: readonly ScaleTenant[]): string {
  return JSON.stringify({
    value: tenants.map((tenant) =>
      notification({
        tenantId: tenant.tenantId,
        clientState: integration.webhookSecret,
        subscriptionId: tenant.subscriptionIds[Math.floor(Math.random() * tenant.subscriptionIds.length)] as string,
        changeType: 'updated',
      }),
    ),
  });
}

/** A body for an integration that does not exist: well-formed, so the intake gets as far as the registry. */
export function unknownIntegrationBody(): string {
  return JSON.stringify({ value: [notification({ tenantId: randomUUID(), clientState: 'not-a-secret-of-anyone', changeType: 'updated' })] });
}
