/**
 * Work that reached a region not holding the writer lease is handed off rather than dropped: a lifecycle event or a
 * resync job is stored as it came (`HANDOFF` / `<kind>#<id>` in the connections table, a global table), and the
 * writer's heartbeat delivers it to its own lifecycle function or resync queue, then deletes it.
 */
import { randomUUID } from 'node:crypto';

export const HANDOFF_PARTITION = 'HANDOFF';
export const HANDOFF_KINDS = ['lifecycle', 'resync'] as const;
export type HandoffKind = (typeof HANDOFF_KINDS)[number];
/** A hand-off nobody delivered in a week is dropped by the table's TTL. */
export const HANDOFF_TTL_SECONDS = 7 * 24 * 3600;

export interface Handoff {
  kind: HandoffKind;
  /** The event's id (lifecycle) or the queue message's id (resync): the same work handed off twice is one item. */
  id: string;
  /** The original event or job, as JSON text. */
  payload: string;
  createdAt: string;
  fromRegion: string;
}

export interface HandoffStore {
  put(handoff: Omit<Handoff, 'createdAt'>): Promise<void>;
  /** Up to `limit` hand-offs, and a description of each item that does not parse (left in place). */
  list(limit: number): Promise<{ handoffs: Handoff[]; invalid: string[] }>;
  /**
   * Deletes the item as it was listed: one handed off again since (a new `createdAt`: the writer that received it
   * lost the lease meanwhile and stored it anew) is kept for the next writer.
   */
  delete(handoff: Pick<Handoff, 'kind' | 'id' | 'createdAt'>): Promise<void>;
}

/** A lifecycle event (EventBridge's, with its `id`) stored for the writer. @throws when it could not be stored. */
export async function handOffLifecycleEvent(store: HandoffStore, event: unknown, fromRegion: string): Promise<string> {
  const eventId = typeof event === 'object' && event !== null ? (event as { id?: unknown }).id : undefined;
  const id = typeof eventId === 'string' && eventId !== '' ? eventId : randomUUID();
  await store.put({ kind: 'lifecycle', id, payload: JSON.stringify(event), fromRegion });
  return id;
}

/**
 * Resync queue messages stored for the writer, each under its message id. Answers the ids of the messages that
 * could not be stored, for SQS to deliver again.
 */
export async function handOffResyncMessages(
  store: HandoffStore,
  messages: readonly { messageId: string; body: string }[],
  fromRegion: string,
  onError: (messageId: string, error: unknown) => void,
): Promise<string[]> {
  const failed: string[] = [];
  for (const { messageId, body } of messages) {
    try {
      await store.put({ kind: 'resync', id: messageId, payload: body, fromRegion });
    } catch (error) {
      onError(messageId, error);
      failed.push(messageId);
    }
  }
  return failed;
}
