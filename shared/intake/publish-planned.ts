import type { StoredPayload } from '../events/bus-fit';
import type { EventEntry } from '../events/contract';
import type { PayloadStore } from '../events/payload-store';
import { PublishError, type EventPublisher } from '../events/publisher';
import type { DeliveriesStore } from '../store/deliveries-store';
import { describeError } from '../util/errors';
import type { Verified } from './parse-verified';
import type { IntakeLogger } from './request-log';

/** A notification whose events are planned: as they go on the bus, and the full details to store first. */
export interface Planned {
  item: Verified;
  events: EventEntry[];
  stored: StoredPayload[];
}

export interface PublishPorts {
  publisher: EventPublisher;
  deliveries: Pick<DeliveriesStore, 'markPublished'>;
  payloads?: PayloadStore | undefined;
  logger: IntakeLogger;
}

export interface PublishedPlan {
  /** Keys of the notifications all of whose events are on the bus. */
  publishedKeys: string[];
  /** Events of those notifications. */
  events: number;
  /** Why some events are not on the bus, when some are not. */
  publishError: unknown;
  /** The first error of each notification (by key) whose full detail could not be stored: none of its events went out. */
  notStored: Map<string, unknown>;
}

/**
 * Publishes the planned notifications: full details to the payload store first, so a consumer can always fetch
 * them, then the events, then the redelivery markers of what is on the bus.
 */
export async function publishPlanned(integrationId: string, planned: readonly Planned[], ports: PublishPorts): Promise<PublishedPlan> {
  const notStored = await storePayloads(integrationId, planned, ports);
  const events: EventEntry[] = [];
  const owners: Verified[] = [];
  for (const { item, events: itemEvents } of planned) {
    // Not published at all (and no marker): Graph's redelivery stores and publishes it again.
    if (notStored.has(item.key)) continue;
    for (const event of itemEvents) {
      events.push(event);
      owners.push(item);
    }
  }

  let failedOwners = new Set<string>();
  let publishError: unknown;
  try {
    await ports.publisher.publish(events);
  } catch (error) {
    publishError = error;
    failedOwners = new Set(
      error instanceof PublishError ? [...error.failedIndexes].map((i) => owners[i]?.key ?? '') : owners.map((o) => o.key),
    );
  }
  const publishedKeys = [...new Set(owners.map((o) => o.key))].filter((key) => !failedOwners.has(key));

  // Markers are written even when part of the batch failed, so Graph's redelivery republishes only the rest.
  try {
    if (publishedKeys.length > 0) await ports.deliveries.markPublished(publishedKeys);
  } catch (error) {
    ports.logger.warn('redelivery markers not written; a redelivery may be published twice', {
      integrationId,
      markers: publishedKeys.length,
      error: describeError(error),
    });
  }
  return { publishedKeys, events: owners.filter((o) => !failedOwners.has(o.key)).length, publishError, notStored };
}

/** Stores every payload of the request concurrently; returns the first error of each notification (by key) that failed. */
async function storePayloads(integrationId: string, planned: readonly Planned[], ports: PublishPorts): Promise<Map<string, unknown>> {
  const errors = new Map<string, unknown>();
  const store = ports.payloads;
  if (store === undefined) return errors;
  await Promise.all(
    planned.flatMap(({ item, stored }) =>
      stored.map(async (object) => {
        try {
          await store.put(object);
          ports.logger.info('large payload stored; its event carries payloadRef', {
            integrationId,
            idempotencyKey: item.key,
            key: object.key,
            bytes: Buffer.byteLength(object.body, 'utf8'),
          });
        } catch (error) {
          if (!errors.has(item.key)) errors.set(item.key, error);
          ports.logger.error('large payload not stored; the notification is not published', {
            integrationId,
            index: item.index,
            idempotencyKey: item.key,
            key: object.key,
            error: describeError(error),
          });
        }
      }),
    ),
  );
  return errors;
}
