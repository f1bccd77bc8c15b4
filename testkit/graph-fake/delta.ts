/**
 * Graph's delta queries (learn.microsoft.com/graph/delta-query-overview, user: delta, group: delta, message: delta)
 * over the objects in delta-store.ts: a first round pages through every current object with `@odata.nextLink` and
 * ends with `@odata.deltaLink`; following that link returns only what changed since, removals as
 * `{ id, "@removed": { reason } }`. State tokens are opaque to clients but carry everything the fake needs (tenant,
 * collection, position, `$select`), signed so that a hand-made or altered token is refused.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FakeClock } from './clock';
import { type DeltaKind, type DeltaStore, parseCollection, type StoredDeltaObject } from './delta-store';
import { GraphHttpError } from './errors';
import type { GraphCaller, GraphResponse } from './subscriptions-api';

/**
 * Page sizes. Users and groups: Graph ignores `$top` on delta (delta query overview: "$top is not supported"),
 * `Prefer: odata.maxpagesize` sets the size. Messages: `$top` and `Prefer: odata.maxpagesize` (message: delta).
 * The defaults and caps are the fake's choice where Microsoft publishes none: 100 / 999 for directory objects
 * (999 is the documented maximum page size of directory lists), 10 / 1,000 for Outlook (Outlook's default
 * page size of message lists, and its `$top` maximum).
 */
const PAGE_SIZE: Record<DeltaKind, { default: number; max: number }> = {
  users: { default: 100, max: 999 },
  groups: { default: 100, max: 999 },
  messages: { default: 10, max: 1000 },
};

/** Delta query overview, "Token duration": seven days for directory objects; Outlook tokens have no fixed limit. */
export const DIRECTORY_DELTA_TOKEN_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000;

const MESSAGE_CHANGE_TYPES = new Set(['created', 'updated', 'deleted']);

interface DeltaState {
  /** Tenant (lower case): a link is only good in the tenant that issued it. */
  tenant: string;
  /** Collection key, e.g. `users` or `users/{id}/mailFolders/{id}/messages`. */
  collection: string;
  /** 'next': a page inside a round; 'delta': the start of the next round. */
  link: 'next' | 'delta';
  /** Changes after this sequence number belong to the round. */
  since: number;
  /** The round's end (`next` only): later changes wait for the next round, so none is lost or sent twice. */
  upTo: number;
  /** Paging cursor (`next` only): the last sequence number already sent. */
  after: number;
  /** A first round sends current objects only; later rounds send removals too. */
  full: boolean;
  select: string[] | null;
  top: number | null;
  changeType: string | null;
  issuedAt: number;
  serial: number;
}

export interface DeltaRequest {
  kind: DeltaKind;
  /** The collection path as requested, e.g. `users` or `users/{id}/mailFolders/{id}/messages`. */
  collection: string;
  caller: GraphCaller;
  url: URL;
  prefer: string | undefined;
}

export class DeltaApi {
  private readonly key = randomBytes(32);
  private serial = 0;
  /** Tokens with a serial at or below a cutoff are expired: per tenant (`tenant|*`) or per collection. */
  private readonly cutoffs = new Map<string, number>();

  constructor(
    private readonly store: DeltaStore,
    private readonly clock: FakeClock,
    /** The fake's Graph root, e.g. http://127.0.0.1:1234/v1.0 */
    private readonly graphRoot: () => string,
  ) {}

  /** Every delta and next link issued so far in the tenant (or one of its collections) answers 410 from now on. */
  expireTokens(tenantId: string, collection?: string): void {
    const scope = collection === undefined ? '*' : parseCollection(collection).key;
    this.cutoffs.set(`${tenantId.toLowerCase()}|${scope}`, this.serial);
  }

  handle(request: DeltaRequest): GraphResponse {
    const { kind, caller } = request;
    const { key } = parseCollection(request.collection);
    const tenant = caller.tenantId.toLowerCase();
    const query = lowerCaseQuery(request.url);
    const collection = this.store.collection(tenant, key);
    const base = `${this.graphRoot()}/${request.collection.split('/').map(encodeURIComponent).join('/')}/delta`;

    let state: DeltaState;
    const deltaToken = query.get('$deltatoken');
    const skipToken = query.get('$skiptoken');
    if (deltaToken !== undefined && deltaToken.toLowerCase() === 'latest') {
      // Delta query overview: "sync from now" is for directory resources; Outlook has no such token.
      if (kind === 'messages') throw new GraphHttpError(400, 'BadRequest', "The $deltatoken value 'latest' is not supported for messages.");
      const latest = this.issue({ ...this.initial(kind, query, tenant, key, collection.sequence), link: 'delta', since: collection.sequence });
      return this.page(kind, base, latest, [], null);
    }
    if (skipToken !== undefined && skipToken !== '') {
      state = this.decode(skipToken, 'next', kind, tenant, key, base);
    } else if (deltaToken !== undefined && deltaToken !== '') {
      const previous = this.decode(deltaToken, 'delta', kind, tenant, key, base);
      state = { ...previous, link: 'next', upTo: collection.sequence, after: previous.since, full: false };
    } else {
      state = this.initial(kind, query, tenant, key, collection.sequence);
    }

    const pageSize = this.pageSize(kind, state, request.prefer);
    const candidates = [...collection.objects.values()]
      .filter((o) => o.seq > state.after && o.seq <= state.upTo && this.belongs(kind, o, state))
      .sort((a, b) => a.seq - b.seq);
    const page = candidates.slice(0, pageSize.size);
    const last = page[page.length - 1];
    const next =
      candidates.length > page.length && last !== undefined
        ? this.issue({ ...state, link: 'next', after: last.seq })
        : this.issue({ ...state, link: 'delta', since: state.upTo, upTo: 0, after: 0, full: false });
    return this.page(kind, base, next, page, pageSize.applied);
  }

  private initial(kind: DeltaKind, query: Map<string, string>, tenant: string, collection: string, upTo: number): DeltaState {
    const selectRaw = query.get('$select');
    const select = selectRaw === undefined ? null : selectRaw.split(',').map((p) => p.trim()).filter((p) => p !== '' && p.toLowerCase() !== 'id');
    let top: number | null = null;
    let changeType: string | null = null;
    if (kind === 'messages') {
      const topRaw = query.get('$top');
      if (topRaw !== undefined) {
        top = Number(topRaw);
        if (!Number.isInteger(top) || top < 1) throw new GraphHttpError(400, 'BadRequest', `Invalid value '${topRaw}' for $top: a positive integer is required.`);
      }
      const changeTypeRaw = query.get('changetype');
      if (changeTypeRaw !== undefined) {
        if (!MESSAGE_CHANGE_TYPES.has(changeTypeRaw.toLowerCase())) throw new GraphHttpError(400, 'BadRequest', `Invalid changeType '${changeTypeRaw}': use created, updated or deleted.`);
        changeType = changeTypeRaw.toLowerCase();
      }
    }
    return { tenant, collection, link: 'next', since: 0, upTo, after: 0, full: true, select, top, changeType, issuedAt: 0, serial: 0 };
  }

  /**
   * Whether an object changed in the round belongs in it. A first round has current objects only. Later rounds:
   * with `$select`, users and groups appear only for changes to selected properties (delta query overview);
   * messages honour the `changeType` filter (message: delta), which applies from the second round on.
   */
  private belongs(kind: DeltaKind, o: StoredDeltaObject, state: DeltaState): boolean {
    if (state.full) return o.removed === undefined;
    const created = o.createdSeq > state.since;
    if (kind === 'messages' && state.changeType !== null) {
      if (state.changeType === 'deleted') return o.removed !== undefined;
      if (o.removed !== undefined) return false;
      return state.changeType === 'created' ? created : !created;
    }
    if (o.removed !== undefined || created || kind === 'messages' || state.select === null) return true;
    const selected = new Set(state.select.map((p) => p.toLowerCase()));
    return [...o.propertySeq].some(([property, seq]) => seq > state.since && selected.has(property.toLowerCase()));
  }

  private pageSize(kind: DeltaKind, state: DeltaState, prefer: string | undefined): { size: number; applied: number | null } {
    const limits = PAGE_SIZE[kind];
    const preferred = /odata\.maxpagesize\s*=\s*"?(\d+)/i.exec(prefer ?? '');
    const requested = preferred === null ? null : Number(preferred[1]);
    const applied = requested !== null && requested > 0 ? Math.min(requested, limits.max) : null;
    const candidates = [applied ?? limits.default, ...(state.top === null ? [] : [Math.min(state.top, limits.max)])];
    return { size: Math.min(...candidates), applied };
  }

  private page(kind: DeltaKind, base: string, link: { state: DeltaState; token: string }, objects: StoredDeltaObject[], applied: number | null): GraphResponse {
    const select = link.state.select;
    const context =
      kind === 'messages' ? 'Collection(message)' : `${kind}${select === null || select.length === 0 ? '' : `(${select.join(',')})`}`;
    const body: Record<string, unknown> = { '@odata.context': `${this.graphRoot()}/$metadata#${context}` };
    if (link.state.link === 'next') body['@odata.nextLink'] = `${base}?$skiptoken=${link.token}`;
    else body['@odata.deltaLink'] = `${base}?$deltatoken=${link.token}`;
    body['value'] = objects.map((o) => render(kind, o, select));
    return { status: 200, body, headers: applied === null ? {} : { 'preference-applied': `odata.maxpagesize=${applied}` } };
  }

  private issue(state: DeltaState): { state: DeltaState; token: string } {
    this.serial += 1;
    const stamped: DeltaState = { ...state, issuedAt: this.clock.now(), serial: this.serial };
    const payload = Buffer.from(JSON.stringify(stamped), 'utf8').toString('base64url');
    return { state: stamped, token: `${payload}.${this.sign(payload)}` };
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url').slice(0, 22);
  }

  private decode(token: string, link: DeltaState['link'], kind: DeltaKind, tenant: string, collection: string, base: string): DeltaState {
    const name = link === 'next' ? '$skiptoken' : '$deltatoken';
    const invalid = () => new GraphHttpError(400, 'BadRequest', `The ${name} is not valid for this request.`);
    const [payload = '', signature = ''] = token.split('.');
    const expected = Buffer.from(this.sign(payload));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw invalid();
    let state: DeltaState;
    try {
      state = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as DeltaState;
    } catch {
      throw invalid();
    }
    // A link followed with another tenant's token, or on another collection, is refused rather than served.
    if (state.tenant !== tenant || state.collection !== collection || state.link !== link) throw invalid();
    const expired =
      state.serial <= (this.cutoffs.get(`${tenant}|*`) ?? 0) ||
      state.serial <= (this.cutoffs.get(`${tenant}|${collection}`) ?? 0) ||
      (kind !== 'messages' && this.clock.now() - state.issuedAt > DIRECTORY_DELTA_TOKEN_MAX_AGE_MS);
    if (expired) throw this.gone(kind, state, base);
    return state;
  }

  /**
   * An expired link. Directory objects: 410 with `resyncRequired` ("The delta token is no longer valid, and the
   * app must reset the sync state", Graph's error codes) and a Location to restart from (delta query overview,
   * "Synchronization reset"). Outlook: 410 `SyncStateNotFound` worded as real responses are
   * (microsoft-graph-docs #2350, #2162: "The sync state generation is not found; generation=…").
   */
  private gone(kind: DeltaKind, state: DeltaState, base: string): GraphHttpError {
    if (kind === 'messages') {
      return new GraphHttpError(410, 'SyncStateNotFound', `The sync state generation is not found; generation=${state.serial};[highest=${this.serial}].`);
    }
    const select = state.select === null ? '' : `&$select=${state.select.join(',')}`;
    return new GraphHttpError(410, 'resyncRequired', 'Resync is required. The delta token is no longer valid, and the app must reset the sync state.', {
      location: `${base}?$deltatoken=${select}`,
    });
  }
}

/** Query parameters by lower-case name: Graph accepts `$deltaToken` and `$deltatoken` alike. */
function lowerCaseQuery(url: URL): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, value] of url.searchParams) out.set(name.toLowerCase(), value);
  return out;
}

function render(kind: DeltaKind, o: StoredDeltaObject, select: string[] | null): Record<string, unknown> {
  // Graph's message delta example types each item, removed ones included.
  const type = kind === 'messages' ? { '@odata.type': '#microsoft.graph.message' } : {};
  if (o.removed !== undefined) return { ...type, id: o.id, '@removed': { reason: o.removed } };
  const selected = select === null ? null : new Set(select.map((p) => p.toLowerCase()));
  const properties = Object.fromEntries(Object.entries(o.properties).filter(([p]) => selected === null || selected.has(p.toLowerCase())));
  return { ...type, ...properties, id: o.id };
}
