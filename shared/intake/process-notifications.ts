import { PAYLOAD_BUCKET_ENV } from '../config/env-names';
import type { NotificationEnvelope, RefusedItem } from '../graph/change-notification';
import { planEvents } from '../events/bus-fit';
import type { PayloadStore } from '../events/payload-store';
import type { EventPublisher } from '../events/publisher';
import type { RegisteredIntegration } from '../routing/integration-registry';
import type { RouteCache } from '../routing/route-cache';
import { recordedTenants, RoutePlan, type InvalidRouteItem, type ResolvedRoutes } from '../routing/route-plan';
import type { AcceptedSecrets, FreshSecrets } from '../secrets/integration-secret-cache';
import type { DeliveriesStore } from '../store/deliveries-store';
import type { IntakeReads } from '../store/intake-reads';
import { describeError } from '../util/errors';
import { parseVerified, tenantlessSubscriptions, type Verified } from './parse-verified';
import { publishPlanned, type Planned } from './publish-planned';
import type { RefusalReason } from './refusal-tally';
import type { IntakeLogger } from './request-log';
import { checkRichNotifications, type RichPorts } from './rich-notifications';
import { candidatesOf, verifyCandidates, type Matched } from './verify-client-state';

export interface IntakePorts {
  /** The integrations that exist, from memory: an unknown id costs no read. */
  registry: { lookup(integrationId: string): Promise<RegisteredIntegration | undefined> };
  secrets: {
    accepted(integrationId: string): Promise<AcceptedSecrets>;
    /** After a mismatch: the secrets as read since `since` (epoch ms), or `unconfirmed` when no read may be made now. */
    acceptedSince(integrationId: string, since: number, options?: { vouched?: boolean }): Promise<FreshSecrets>;
  };
  /** Routes already read, per instance and bounded. */
  routes: RouteCache;
  /** The request's one read round: routes not cached, and redelivery markers. */
  reads: IntakeReads;
  deliveries: Pick<DeliveriesStore, 'markPublished'>;
  publisher: EventPublisher;
  source: string;
  /** This deployment's region: every event names it (`metadata.region`, and `payloadRef.region` for its bucket). */
  region: string;
  now: () => Date;
  logger: IntakeLogger;
  /** Validation tokens and decryption (rich notifications); without it a rich POST is answered 5xx. */
  rich?: RichPorts;
  /**
   * Where the full detail of an event too large for the bus goes (the event then carries `payloadRef`); without
   * it such a notification is refused.
   */
  payloads?: PayloadStore;
}

export interface IntakeCounts {
  received: number;
  /** Malformed items: never publishable. */
  refused: number;
  /** Items whose clientState did not match (or the integration has no secret). */
  rejected: number;
  /**
   * Items whose clientState did not match a secret that may have been rotated since it was read, in a POST where
   * nothing verified and the re-read was rate-limited: refused (non-2xx, so Graph redelivers), never acknowledged.
   */
  unconfirmed: number;
  /**
   * Items with a valid clientState that still cannot be trusted: every item of a POST whose validation tokens
   * failed, and encrypted items whose signature did not match. Never published.
   */
  forged: number;
  /** Verified items already published within the redelivery window. */
  duplicates: number;
  /** Verified items published on the bus now. */
  published: number;
  /** Of those, items that matched no connection (published as Unrouted). */
  unrouted: number;
  /** Events put on the bus (one per notification and connection). */
  events: number;
  /** Read capacity units of the request's read round (0 when everything came from caches). */
  readUnits: number;
}

export type IntakeOutcome =
  | { kind: 'accepted'; counts: IntakeCounts }
  /** Answered exactly as `rejected`, so that the answer does not tell which integration ids exist. */
  | { kind: 'unknown-integration'; counts: IntakeCounts }
  /** Nothing verified. Answered exactly as `unknown-integration`; `reason` is for the operator only. */
  | { kind: 'rejected'; counts: IntakeCounts; reason: RefusalReason }
  | { kind: 'invalid'; counts: IntakeCounts; refused: RefusedItem[] }
  /** Validation tokens failed: nothing published, answered 202 as Microsoft recommends. */
  | { kind: 'suspicious'; counts: IntakeCounts; reason: string }
  /** Encrypted items without validation tokens: refused (400). */
  | { kind: 'unverifiable'; counts: IntakeCounts; reason: string }
  | { kind: 'unavailable'; reason: string; counts: IntakeCounts };

/**
 * The notification path, one step after another: verify each clientState against the integration's secrets, parse
 * what verified, check rich notifications, route each notification to its tenant's connections, drop redeliveries,
 * plan the events, publish them and remember what was published. It answers `accepted` only when every verified
 * notification is on the bus.
 *
 * What a stranger can send costs little: an unknown integration is answered from memory, an item is not parsed
 * until its clientState verified, items without one cost no secret read, and nothing is logged per item (the
 * logger gets at most a few notes that the caller folds into one line).
 */
export async function processNotifications(
  integrationId: string,
  envelope: NotificationEnvelope,
  ports: IntakePorts,
): Promise<IntakeOutcome> {
  const counts: IntakeCounts = {
    received: envelope.items.length,
    refused: 0,
    rejected: 0,
    unconfirmed: 0,
    forged: 0,
    duplicates: 0,
    published: 0,
    unrouted: 0,
    events: 0,
    readUnits: 0,
  };
  const arrivedAt = ports.now().getTime();

  // The registry answers from memory: an unknown id costs no read of anything and leaves no cache entry.
  let integration: RegisteredIntegration | undefined;
  try {
    integration = await ports.registry.lookup(integrationId);
  } catch (error) {
    return unavailable('cannot read the integration registry', error, counts, ports.logger, integrationId);
  }
  if (integration === undefined) return { kind: 'unknown-integration', counts };

  // Verify. The secret first (Secrets Manager, usually cached): only verified notifications may cost a DynamoDB read.
  const candidates = candidatesOf(envelope.items);
  let secrets: AcceptedSecrets = undefined;
  let matched: Matched[] = [];
  let unconfirmed = 0;
  if (candidates.length > 0) {
    try {
      secrets = await ports.secrets.accepted(integrationId);
      ({ matched, unconfirmed } = await verifyCandidates(integration, candidates, secrets, (options) => ports.secrets.acceptedSince(integrationId, arrivedAt, options)));
    } catch (error) {
      return unavailable('cannot read the webhook secret', error, counts, ports.logger, integrationId);
    }
  }
  counts.unconfirmed = unconfirmed;
  counts.rejected = envelope.items.length - matched.length - unconfirmed;

  // Parse what verified; items that name no tenant need the tenant recorded for their subscription.
  let tenantsOfSubscriptions = new Map<string, string>();
  const tenantless = tenantlessSubscriptions(matched);
  if (tenantless.length > 0) {
    try {
      const recorded = await recordedTenants(ports.routes, integrationId, tenantless, async (routeKeys) => {
        const read = await ports.reads.read({ routeKeys, idempotencyKeys: [] });
        counts.readUnits += read.readUnits;
        return read.routeItems;
      });
      tenantsOfSubscriptions = recorded.tenants;
      reportInvalidItems(integrationId, recorded.invalidItems, ports);
    } catch (error) {
      return unavailable('cannot read the subscriptions of notifications that name no tenant', error, counts, ports.logger, integrationId);
    }
  }
  const parsed = parseVerified(integrationId, matched, tenantsOfSubscriptions);
  const { refused } = parsed;
  let { verified } = parsed;
  counts.refused = refused.length;
  if (refused.length > 0) {
    const [first] = refused;
    ports.logger.warn('notifications refused', { integrationId, items: refused.length, index: first?.index, reason: first?.reason });
  }

  // Rich notifications: the validation tokens vouch for the whole POST, then each encrypted item is decrypted.
  const rich = await checkRichNotifications(integrationId, envelope.validationTokens, verified, ports.rich);
  switch (rich.kind) {
    case 'plain':
      break;
    case 'tokens-missing':
      ports.logger.warn('encrypted notifications without validation tokens refused', { integrationId, items: verified.length });
      counts.forged = verified.length;
      return { kind: 'unverifiable', counts, reason: 'encrypted notifications arrived without validationTokens' };
    case 'tokens-refused':
      ports.logger.warn('validation token refused: nothing in the POST is published', { integrationId, items: verified.length, reason: rich.reason });
      counts.forged = verified.length;
      return { kind: 'suspicious', counts, reason: rich.reason };
    case 'unavailable':
      return unavailable('cannot check rich notifications', new Error(rich.reason), counts, ports.logger, integrationId);
    case 'checked': {
      const [first] = rich.forged;
      if (first !== undefined) ports.logger.warn('encrypted notifications refused', { integrationId, items: rich.forged.length, index: first.index, reason: first.reason });
      counts.forged = rich.forged.length;
      // Decrypted in place: each keeps the idempotency key of the notification Graph sent.
      const byIndex = new Map(verified.map((item) => [item.index, item]));
      verified = rich.items.flatMap((item) => {
        const known = byIndex.get(item.index);
        return known === undefined ? [] : [{ ...known, notification: item.notification }];
      });
      break;
    }
  }

  if (counts.rejected + counts.unconfirmed > 0 && matched.length > 0) {
    ports.logger.warn('clientState verification failed', { integrationId, rejected: counts.rejected, unconfirmed: counts.unconfirmed });
  }
  if (verified.length === 0) {
    if (matched.length === 0) {
      const reason: RefusalReason =
        secrets === undefined && candidates.length > 0 ? 'no-webhook-secret' : counts.unconfirmed > 0 ? 'clientstate-unconfirmed' : 'clientstate-mismatch';
      return { kind: 'rejected', counts, reason };
    }
    if (counts.refused > 0) return { kind: 'invalid', counts, refused };
    return { kind: 'accepted', counts };
  }

  // Route. One DynamoDB read round: the routes the cache lacks and the redelivery markers together. Only verified
  // notifications get here, so forged items cost no read.
  const plan = new RoutePlan(ports.routes, integrationId, verified.map((v) => v.notification));
  let routes: ResolvedRoutes;
  let alreadyPublished: Set<string>;
  try {
    const read = await ports.reads.read({ routeKeys: plan.keys, idempotencyKeys: verified.map((v) => v.key) });
    counts.readUnits += read.readUnits;
    alreadyPublished = read.published;
    routes = plan.resolve(read.routeItems);
  } catch (error) {
    return unavailable('cannot read the routes or redelivery markers', error, counts, ports.logger, integrationId);
  }
  reportInvalidItems(integrationId, routes.invalidItems, ports);

  // Plan the events of each notification not published before.
  const receivedAt = ports.now().toISOString();
  const planned: Planned[] = [];
  const seen = new Set<string>();
  const unroutedKeys = new Set<string>();
  for (const item of verified) {
    // Exact copies inside one POST, and redeliveries of what was already published, are published once. Except a
    // `missed` seen before: Graph's carries no id and no time, so a new one is byte-identical to the last, and
    // dropping it would drop its catch-up; publishing a redelivery again costs one catch-up that finds nothing.
    const seenBefore = alreadyPublished.has(item.key) && item.notification.lifecycleEvent !== 'missed';
    if (seenBefore || seen.has(item.key)) {
      counts.duplicates += 1;
      continue;
    }
    seen.add(item.key);
    const connectionIds = routes.route(item.notification);
    const fitted = planFor(integrationId, integration.provider, item, connectionIds, receivedAt, ports);
    if (fitted === undefined) {
      // It can never be published; failing the request would only make Graph retry it for four hours.
      counts.refused += 1;
      continue;
    }
    if (connectionIds.length === 0) unroutedKeys.add(item.key);
    planned.push({ item, ...fitted });
  }

  // Publish.
  const published = await publishPlanned(integrationId, planned, ports);
  counts.events = published.events;
  counts.published = published.publishedKeys.length;
  counts.unrouted = published.publishedKeys.filter((key) => unroutedKeys.has(key)).length;
  if (published.publishError !== undefined) {
    return unavailable('cannot publish to the event bus', published.publishError, counts, ports.logger, integrationId);
  }
  if (published.notStored.size > 0) {
    const [firstError] = published.notStored.values();
    return unavailable('cannot store a large payload in the payload bucket', firstError, counts, ports.logger, integrationId);
  }
  return { kind: 'accepted', counts };
}

/**
 * The events of one notification as they go on the bus (shared/events/bus-fit.ts), or `undefined`, logged, when
 * the notification can never be published (no payload store, or even the reduced event is too large).
 */
function planFor(
  integrationId: string,
  provider: string,
  item: Verified,
  connectionIds: readonly string[],
  receivedAt: string,
  ports: IntakePorts,
): Omit<Planned, 'item'> | undefined {
  const fit = planEvents(
    { source: ports.source, provider, integrationId, notification: item.notification, idempotencyKey: item.key, connectionIds, receivedAt, region: ports.region },
    { sizeOf: (event) => ports.publisher.sizeOf(event), payloads: ports.payloads },
  );
  if (fit.fits) return { events: fit.events, stored: fit.stored };
  const fields = { integrationId, index: item.index, idempotencyKey: item.key, bytes: fit.bytes };
  if (fit.reason === 'no-payload-store') {
    ports.logger.error(`notification too large for EventBridge and no payload bucket configured (${PAYLOAD_BUCKET_ENV} is not set)`, fields);
  } else {
    ports.logger.error('notification too large for EventBridge even reduced to its routing fields', fields);
  }
  return undefined;
}

function reportInvalidItems(integrationId: string, invalidItems: readonly InvalidRouteItem[], ports: IntakePorts): void {
  const [first] = invalidItems;
  if (first !== undefined) ports.logger.warn('connections table items skipped', { integrationId, items: invalidItems.length, sk: first.sk, reason: first.reason });
}

function unavailable(
  what: string,
  error: unknown,
  counts: IntakeCounts,
  logger: IntakeLogger,
  integrationId: string,
): IntakeOutcome {
  const reason = `${what}: ${describeError(error)}`;
  logger.error('notifications not accepted; Graph will redeliver', { integrationId, reason });
  return { kind: 'unavailable', reason: what, counts };
}
