/**
 * Which Graph delta query catches up on a subscription's resource, by resource kind. Delta queries are the catch-up
 * Microsoft prescribes when notifications were missed or a subscription lapsed ("Use delta query to track changes in
 * Microsoft Graph data", https://learn.microsoft.com/graph/delta-query-overview). The one place these mappings live:
 * declarations check `;resync` against it, and catch-up runs build their first request from it.
 *
 * A subscription resource is matched case-insensitively after the normalisation the declarations use (no leading
 * `/`); OData key segments such as `teams('…')` or `mailFolders('Inbox')` are read as `/…`. Ids are copied into the
 * delta path as written. Resources with query options (`?$filter=…`) have no delta counterpart and are refused.
 */

/**
 * How a resync gets a starting point without sending every existing object as a change:
 * - `deltatoken-latest`: `$deltatoken=latest` answers with a delta link and no data (Microsoft Entra resources).
 * - `token-latest`: `?token=latest` does the same for drive items and list items.
 * - `full-sync`: no such shortcut; the baseline is every page of a full round, read and not published.
 */
export type DeltaBaseline = 'deltatoken-latest' | 'token-latest' | 'full-sync';

/** calendarView delta needs a window; Graph has no default, so this is graph-relay's. */
export const CALENDAR_VIEW_WINDOW = {
  /** Events that ended more than this long ago are rarely changed, and a shorter window is a cheaper full round. */
  daysBefore: 30,
  /** Recurring series are expanded into occurrences: a year ahead covers what consumers schedule against. */
  daysAfter: 365,
} as const;

export interface DeltaQuery {
  /** Name shown in errors, the CLI and the README. */
  kind: string;
  /** The subscription resources it serves, as an operator writes them (shown when a resource is refused). */
  resources: readonly string[];
  /** Matches a normalised resource; named groups are the ids the delta path is built from. */
  pattern: RegExp;
  /** The delta request's path from the Graph version root, with a leading `/`. */
  path: (ids: Record<string, string>, now: Date) => string;
  baseline: DeltaBaseline;
  /** What a resync needs beyond the resource, for operators. */
  needs: string;
  /** Microsoft's page for this delta function. */
  docs: string;
  /**
   * The resource of one object as Graph writes it in a change notification of this subscription kind (e.g.
   * `Users/<id>`), for the events a resync publishes; `id` is the object's id.
   */
  object?: (ids: Record<string, string>, id: string, object: Record<string, unknown>) => string;
}

const OWNER = '(?<owner>me|users/[^/]+)';
const GUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

/** `$filter=id eq '…'`: users and groups delta accept filtering on ids (delta-query-overview, "Optional query parameters"). */
function idFilter(id: string): string {
  return `$filter=${encodeURIComponent(`id eq '${id}'`)}`;
}

function calendarWindow(now: Date): string {
  const day = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const start = new Date(day - CALENDAR_VIEW_WINDOW.daysBefore * 86_400_000).toISOString();
  const end = new Date(day + CALENDAR_VIEW_WINDOW.daysAfter * 86_400_000).toISOString();
  return `startDateTime=${start}&endDateTime=${end}`;
}

/** A named group of a row's pattern (always present when the pattern matched). */
const part = (groups: Record<string, string>, name: string): string => groups[name] ?? '';

/** `users/<u>` as Graph writes it in notification resources (`Users/<u>`); `me` stays `me`. */
const ownerPath = (groups: Record<string, string>): string => part(groups, 'owner').replace(/^users\//i, 'Users/');

/** The drive of a drive item: its parentReference, else the drive in the subscription's resource. */
function driveIdOf(groups: Record<string, string>, object: Record<string, unknown>): string {
  const parent = object['parentReference'];
  const driveId = typeof parent === 'object' && parent !== null ? (parent as Record<string, unknown>)['driveId'] : undefined;
  if (typeof driveId === 'string' && driveId !== '') return driveId;
  const drive = part(groups, 'drive');
  return drive.startsWith('drives/') ? drive.slice('drives/'.length) : drive;
}

export const DELTA_QUERIES: readonly DeltaQuery[] = [
  // https://learn.microsoft.com/graph/api/user-delta
  { kind: 'users', object: (_g, id) => `Users/${id}`, resources: ['users'], pattern: /^users$/i, path: () => '/users/delta', baseline: 'deltatoken-latest', needs: 'nothing', docs: 'https://learn.microsoft.com/graph/api/user-delta' },
  // https://learn.microsoft.com/graph/delta-query-overview (filtering users and groups on id)
  { kind: 'one user', object: (_g, id) => `Users/${id}`, resources: ['users/{user-object-id}'], pattern: new RegExp(`^users/(?<id>${GUID})$`, 'i'), path: (g) => `/users/delta?${idFilter(part(g, 'id'))}`, baseline: 'deltatoken-latest', needs: 'the user object id (a GUID), not a user principal name', docs: 'https://learn.microsoft.com/graph/api/user-delta' },
  // https://learn.microsoft.com/graph/api/group-delta
  { kind: 'groups', object: (_g, id) => `Groups/${id}`, resources: ['groups'], pattern: /^groups$/i, path: () => '/groups/delta', baseline: 'deltatoken-latest', needs: 'nothing', docs: 'https://learn.microsoft.com/graph/api/group-delta' },
  { kind: 'one group', object: (_g, id) => `Groups/${id}`, resources: ['groups/{group-id}'], pattern: new RegExp(`^groups/(?<id>${GUID})$`, 'i'), path: (g) => `/groups/delta?${idFilter(part(g, 'id'))}`, baseline: 'deltatoken-latest', needs: 'the group id (a GUID)', docs: 'https://learn.microsoft.com/graph/api/group-delta' },
  // https://learn.microsoft.com/graph/api/application-delta
  { kind: 'applications', object: (_g, id) => `Applications/${id}`, resources: ['applications'], pattern: /^applications$/i, path: () => '/applications/delta', baseline: 'deltatoken-latest', needs: 'nothing', docs: 'https://learn.microsoft.com/graph/api/application-delta' },
  // https://learn.microsoft.com/graph/api/serviceprincipal-delta
  { kind: 'service principals', object: (_g, id) => `ServicePrincipals/${id}`, resources: ['servicePrincipals'], pattern: /^servicePrincipals$/i, path: () => '/servicePrincipals/delta', baseline: 'deltatoken-latest', needs: 'nothing', docs: 'https://learn.microsoft.com/graph/api/serviceprincipal-delta' },
  // https://learn.microsoft.com/graph/api/orgcontact-delta (organizational contacts live at /contacts)
  { kind: 'organizational contacts', object: (_g, id) => `Contacts/${id}`, resources: ['contacts'], pattern: /^contacts$/i, path: () => '/contacts/delta', baseline: 'deltatoken-latest', needs: 'nothing', docs: 'https://learn.microsoft.com/graph/api/orgcontact-delta' },
  // https://learn.microsoft.com/graph/api/directoryobject-delta (devices are tracked through directoryObjects, filtered on the type)
  { kind: 'devices', object: (_g, id) => `Devices/${id}`, resources: ['devices'], pattern: /^devices$/i, path: () => `/directoryObjects/delta?$filter=${encodeURIComponent("isof('microsoft.graph.device')")}`, baseline: 'deltatoken-latest', needs: 'nothing', docs: 'https://learn.microsoft.com/graph/api/directoryobject-delta' },
  // https://learn.microsoft.com/graph/api/message-delta (per folder: there is no delta over all of a mailbox's messages)
  { kind: 'messages of a mail folder', object: (g, id) => `${ownerPath(g)}/Messages/${id}`, resources: ['users/{user}/mailFolders/{folder}/messages'], pattern: new RegExp(`^${OWNER}/mailFolders/(?<folder>[^/]+)/messages$`, 'i'), path: (g) => `/${part(g, 'owner')}/mailFolders/${part(g, 'folder')}/messages/delta`, baseline: 'full-sync', needs: 'the folder, in the resource (an id or a well-known name such as inbox)', docs: 'https://learn.microsoft.com/graph/api/message-delta' },
  // https://learn.microsoft.com/graph/api/contact-delta (per folder, like messages)
  { kind: 'contacts of a contact folder', object: (g, id) => `${ownerPath(g)}/Contacts/${id}`, resources: ['users/{user}/contactFolders/{folder}/contacts'], pattern: new RegExp(`^${OWNER}/contactFolders/(?<folder>[^/]+)/contacts$`, 'i'), path: (g) => `/${part(g, 'owner')}/contactFolders/${part(g, 'folder')}/contacts/delta`, baseline: 'full-sync', needs: 'the folder, in the resource', docs: 'https://learn.microsoft.com/graph/api/contact-delta' },
  // https://learn.microsoft.com/graph/api/event-delta and https://learn.microsoft.com/graph/delta-query-events (v1.0 tracks a calendarView of the primary calendar)
  { kind: 'events of the primary calendar', object: (g, id) => `${ownerPath(g)}/Events/${id}`, resources: ['users/{user}/events', 'users/{user}/calendar/events'], pattern: new RegExp(`^${OWNER}/(calendar/)?events$`, 'i'), path: (g, now) => `/${part(g, 'owner')}/calendarView/delta?${calendarWindow(now)}`, baseline: 'full-sync', needs: `a window: from ${CALENDAR_VIEW_WINDOW.daysBefore} days before the resync to ${CALENDAR_VIEW_WINDOW.daysAfter} days after it; changes to events outside it are not caught up`, docs: 'https://learn.microsoft.com/graph/api/event-delta' },
  // https://learn.microsoft.com/graph/api/driveitem-delta (`token=latest`: "returns empty response with latest delta token")
  { kind: 'drive items', object: (g, id, o) => `drives/${driveIdOf(g, o)}/items/${id}`, resources: ['drives/{drive}/root', 'users/{user}/drive/root', 'groups/{group}/drive/root', 'sites/{site}/drive/root'], pattern: /^(?<drive>me\/drive|(users|groups|sites)\/[^/]+\/drive|drives\/[^/]+)\/root$/i, path: (g) => `/${part(g, 'drive')}/root/delta`, baseline: 'token-latest', needs: 'nothing', docs: 'https://learn.microsoft.com/graph/api/driveitem-delta' },
  // https://learn.microsoft.com/graph/api/listitem-delta (`token=latest` as for drive items)
  { kind: 'SharePoint list items', object: (g, id) => `sites/${part(g, 'site')}/lists/${part(g, 'list')}/items/${id}`, resources: ['sites/{site}/lists/{list}'], pattern: /^sites\/(?<site>[^/]+)\/lists\/(?<list>[^/]+)$/i, path: (g) => `/sites/${part(g, 'site')}/lists/${part(g, 'list')}/items/delta`, baseline: 'token-latest', needs: 'nothing', docs: 'https://learn.microsoft.com/graph/api/listitem-delta' },
  // https://learn.microsoft.com/graph/api/chatmessage-delta?view=graph-rest-1.0 as published for channels (also the
  // v1.0 SDKs' Get-MgTeamChannelMessageDelta); replies are not included, and only the last eight months are returned.
  { kind: 'channel messages', object: (g, id) => `teams('${part(g, 'team')}')/channels('${part(g, 'channel')}')/messages('${id}')`, resources: ['teams/{team}/channels/{channel}/messages'], pattern: /^teams\/(?<team>[^/]+)\/channels\/(?<channel>[^/]+)\/messages$/i, path: (g) => `/teams/${part(g, 'team')}/channels/${part(g, 'channel')}/messages/delta`, baseline: 'full-sync', needs: 'nothing; replies are not included and only the last eight months are returned', docs: 'https://learn.microsoft.com/graph/api/chatmessage-delta' },
  // https://learn.microsoft.com/graph/api/chatmessage-delta (application permission only); a single chat
  // (chats/{id}/messages) and every chat of the tenant (chats/getAllMessages) have no documented delta.
  { kind: "a user's chat messages", object: (_g, id, o) => `chats('${typeof o['chatId'] === 'string' ? o['chatId'] : ''}')/messages('${id}')`, resources: ['users/{user}/chats/getAllMessages'], pattern: /^users\/(?<user>[^/]+)\/chats\/getAllMessages$/i, path: (g) => `/users/${part(g, 'user')}/chats/getAllMessages/delta`, baseline: 'full-sync', needs: 'application permission; only the last eight months are returned', docs: 'https://learn.microsoft.com/graph/api/chatmessage-delta' },
  // https://learn.microsoft.com/graph/api/todotask-delta
  { kind: 'To Do tasks of a list', object: (g, id) => `${ownerPath(g)}/todo/lists/${part(g, 'list')}/tasks/${id}`, resources: ['users/{user}/todo/lists/{list}/tasks'], pattern: new RegExp(`^${OWNER}/todo/lists/(?<list>[^/]+)/tasks$`, 'i'), path: (g) => `/${part(g, 'owner')}/todo/lists/${part(g, 'list')}/tasks/delta`, baseline: 'full-sync', needs: 'nothing', docs: 'https://learn.microsoft.com/graph/api/todotask-delta' },
];

/** Resources that are close to a supported one, with what to declare instead. */
const NEAR_MISSES: readonly { pattern: RegExp; hint: string }[] = [
  { pattern: new RegExp(`^${OWNER}/messages$`, 'i'), hint: 'messages have delta queries per mail folder: declare users/{user}/mailFolders/{folder}/messages (e.g. mailFolders/inbox/messages)' },
  { pattern: new RegExp(`^${OWNER}/contacts$`, 'i'), hint: 'contacts have delta queries per contact folder: declare users/{user}/contactFolders/{folder}/contacts' },
  { pattern: /^users\/[^/@]+@[^/]+$/i, hint: 'a single user is tracked by object id: declare users/{user-object-id}' },
];

export interface DeltaRequest {
  supported: true;
  kind: string;
  /** The first request of a full round, from the Graph version root, e.g. `/users/delta`. */
  path: string;
  baseline: DeltaBaseline;
  /** The request that gives a delta link without data; absent for `full-sync`. */
  baselinePath?: string;
  needs: string;
  docs: string;
  /** The resource of an object the delta query returned, as Graph writes it in a notification (`Users/<id>`). */
  objectResource(id: string, object: Record<string, unknown>): string;
}

export interface DeltaUnsupported {
  supported: false;
  resource: string;
  /** The resource patterns that have a delta query, for the message. */
  supportedResources: string[];
  /** One line: why, what to declare instead if there is something close, and what is supported. */
  message: string;
}

/** Every resource pattern with a delta query, in table order. */
export function deltaResources(): string[] {
  return DELTA_QUERIES.flatMap((query) => [...query.resources]);
}

/** Reads OData key segments (`teams('x')`, `mailFolders(Inbox)`) as path segments (`teams/x`). */
function normalise(resource: string): string {
  return resource.replace(/^\/+/, '').replace(/\('([^']*)'\)|\(([^)'"]*)\)/g, (_match, quoted: string | undefined, bare: string | undefined) => `/${quoted ?? bare ?? ''}`);
}

function withQuery(path: string, query: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}${query}`;
}

/**
 * The delta request that catches up on a subscription's resource, or why there is none. `now` places the window of
 * calendarView requests.
 */
export function deltaRequestFor(resource: string, now: Date = new Date()): DeltaRequest | DeltaUnsupported {
  const supportedResources = deltaResources();
  const unsupported = (why: string): DeltaUnsupported => ({
    supported: false,
    resource,
    supportedResources,
    message: `${why}; resync is supported for ${supportedResources.join(', ')}`,
  });
  if (resource.includes('?')) return unsupported(`no delta query matches "${resource}": delta queries take no subscription query options, declare the resource without them`);
  const path = normalise(resource);
  for (const query of DELTA_QUERIES) {
    const match = query.pattern.exec(path);
    if (match === null) continue;
    const deltaPath = query.path(match.groups ?? {}, now);
    const baselinePath =
      query.baseline === 'deltatoken-latest' ? withQuery(deltaPath, '$deltatoken=latest') : query.baseline === 'token-latest' ? withQuery(deltaPath, 'token=latest') : undefined;
    return {
      supported: true,
      kind: query.kind,
      path: deltaPath,
      baseline: query.baseline,
      ...(baselinePath === undefined ? {} : { baselinePath }),
      needs: query.needs,
      docs: query.docs,
      objectResource: (id, object) => (query.object === undefined ? `${path}/${id}` : query.object(match.groups ?? {}, id, object)),
    };
  }
  const hint = NEAR_MISSES.find((miss) => miss.pattern.test(path))?.hint;
  return unsupported(`Graph has no delta query for "${resource}"${hint === undefined ? '' : ` (${hint})`}`);
}
