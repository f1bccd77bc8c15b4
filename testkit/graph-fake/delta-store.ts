/**
 * The objects Graph's delta queries report on, per tenant: users, groups and the messages of each mail folder.
 * Every change takes the next number of its collection's change sequence, so a delta token only has to remember a
 * position in that sequence. Removed objects stay as tombstones so later rounds can report them as `@removed`.
 */

/** A collection as its Graph path names it: `users`, `groups` or `users/{id}/mailFolders/{id}/messages`. */
export type DeltaCollection = 'users' | 'groups' | `users/${string}/mailFolders/${string}/messages`;

export type DeltaKind = 'users' | 'groups' | 'messages';

/** An object as tests give it: an id and Graph's JSON properties (null clears a property, as in Graph). */
export type DeltaObjectInput = { id: string } & Record<string, unknown>;

export interface RemoveOptions {
  /**
   * Users and groups only: true for a hard delete (`@removed.reason` "deleted", gone for good); false (default)
   * for a soft delete, which Graph reports as "changed" because the object can still be restored from deletedItems.
   */
  permanent?: boolean;
}

export interface StoredDeltaObject {
  id: string;
  properties: Record<string, unknown>;
  /** Sequence number of the object's latest change (creation, update or removal). */
  seq: number;
  /** Sequence number of its creation (or re-creation after a removal). */
  createdSeq: number;
  /** Sequence number of each property's latest change: a `$select` round skips changes to other properties. */
  propertySeq: Map<string, number>;
  removed?: 'changed' | 'deleted';
}

/** The path of a folder's messages collection, e.g. `messagesIn(userId, 'inbox')`. */
export function messagesIn(userId: string, folderId: string): DeltaCollection {
  return `users/${userId}/mailFolders/${folderId}/messages`;
}

const MESSAGES = /^users\/([^/]+)\/mailFolders\/([^/]+)\/messages$/i;

/** The collection's kind, and its key: case-insensitive as Graph's paths and ids are. */
export function parseCollection(collection: string): { kind: DeltaKind; key: string } {
  if (/^users$/i.test(collection)) return { kind: 'users', key: 'users' };
  if (/^groups$/i.test(collection)) return { kind: 'groups', key: 'groups' };
  const messages = MESSAGES.exec(collection);
  if (messages) return { kind: 'messages', key: `users/${(messages[1] ?? '').toLowerCase()}/mailFolders/${(messages[2] ?? '').toLowerCase()}/messages` };
  throw new RangeError(`graph-fake has no delta collection '${collection}': use 'users', 'groups' or 'users/{id}/mailFolders/{id}/messages'`);
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export class ObjectCollection {
  readonly objects = new Map<string, StoredDeltaObject>();
  sequence = 0;

  constructor(readonly kind: DeltaKind) {}

  upsert(input: DeltaObjectInput): StoredDeltaObject {
    const id = input.id;
    const existing = this.objects.get(id.toLowerCase());
    const { id: _id, ...properties } = input;
    if (existing === undefined || existing.removed !== undefined) {
      const seq = (this.sequence += 1);
      const created: StoredDeltaObject = { id, properties: { ...properties }, seq, createdSeq: seq, propertySeq: new Map(Object.keys(properties).map((p) => [p, seq])) };
      this.objects.set(id.toLowerCase(), created);
      return created;
    }
    const changed = Object.keys(properties).filter((p) => !same(existing.properties[p], properties[p]));
    if (changed.length === 0) return existing;
    const seq = (this.sequence += 1);
    for (const p of changed) {
      existing.properties[p] = properties[p];
      existing.propertySeq.set(p, seq);
    }
    existing.seq = seq;
    return existing;
  }

  remove(id: string, options: RemoveOptions): boolean {
    const existing = this.objects.get(id.toLowerCase());
    if (existing === undefined || existing.removed !== undefined) return false;
    existing.seq = this.sequence += 1;
    // Outlook items are simply deleted (Graph's message delta example shows "deleted"); directory objects are
    // soft-deleted unless permanent (Graph's delta query overview: "changed" means restorable from deletedItems).
    existing.removed = this.kind === 'messages' || options.permanent === true ? 'deleted' : 'changed';
    return true;
  }
}

/** Test-side handle on one tenant's objects. */
export interface DeltaObjects {
  /** Creates the object, or updates the properties given (others are kept); a change bumps the collection's sequence. */
  upsert(collection: DeltaCollection, object: DeltaObjectInput): Record<string, unknown>;
  /** Removes the object (false if there is none); the next delta round reports it as `@removed`. */
  remove(collection: DeltaCollection, id: string, options?: RemoveOptions): boolean;
  get(collection: DeltaCollection, id: string): Record<string, unknown> | undefined;
  /** Current (not removed) objects in change order. */
  list(collection: DeltaCollection): Record<string, unknown>[];
}

const view = (o: StoredDeltaObject): Record<string, unknown> => ({ ...o.properties, id: o.id });

export class DeltaStore {
  private readonly collections = new Map<string, ObjectCollection>();

  /** The collection of a tenant, created empty on first use (an unknown mailbox folder is simply empty). */
  collection(tenantId: string, collection: string): ObjectCollection {
    const { kind, key } = parseCollection(collection);
    const scoped = `${tenantId.toLowerCase()}|${key}`;
    let found = this.collections.get(scoped);
    if (found === undefined) {
      found = new ObjectCollection(kind);
      this.collections.set(scoped, found);
    }
    return found;
  }

  objects(tenantId: string): DeltaObjects {
    return {
      upsert: (collection, object) => {
        if (typeof object.id !== 'string' || object.id === '') throw new RangeError('graph-fake objects need a non-empty string id');
        return view(this.collection(tenantId, collection).upsert(object));
      },
      remove: (collection, id, options = {}) => this.collection(tenantId, collection).remove(id, options),
      get: (collection, id) => {
        const found = this.collection(tenantId, collection).objects.get(id.toLowerCase());
        return found === undefined || found.removed !== undefined ? undefined : view(found);
      },
      list: (collection) =>
        [...this.collection(tenantId, collection).objects.values()]
          .filter((o) => o.removed === undefined)
          .sort((a, b) => a.seq - b.seq)
          .map(view),
    };
  }
}
