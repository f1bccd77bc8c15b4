/**
 * Maximum subscription lifetimes, in minutes, by resource kind (Microsoft Graph v1.0 documentation, "subscription
 * resource type": maximum length of subscription per resource type). The one place these numbers live: the
 * reconciler and renewal use them for expirationDateTime, and the Graph fake enforces them.
 */
export interface ResourceLifetime {
  /** Name shown in errors and the CLI. */
  kind: string;
  /** Matches a subscription's `resource` path (relative to the Graph root, no leading slash). */
  pattern: RegExp;
  maxMinutes: number;
  /** Lifetime when the subscription asks for resource data (includeResourceData), if lower. */
  withResourceDataMaxMinutes?: number;
  /** Lifetime without a lifecycleNotificationUrl, if lower (Teams resources). */
  withoutLifecycleUrlMaxMinutes?: number;
  /**
   * Graph v1.0 can include resource data (includeResourceData, rich notifications) for this kind (Microsoft Graph
   * docs, "Set up change notifications that include resource data": Outlook, Teams, presence). Directory resources
   * (users, groups) have it in beta only, so they do not here.
   */
  supportsResourceData?: boolean;
}

/** Graph raises any requested expiry below 45 minutes to 45 minutes. */
export const MIN_SUBSCRIPTION_MINUTES = 45;

const TEAMS = { maxMinutes: 4320, withoutLifecycleUrlMaxMinutes: 60, supportsResourceData: true } as const;

export const RESOURCE_LIFETIMES: readonly ResourceLifetime[] = [
  { kind: 'Teams Shifts', pattern: /^teams(\/[^/]+|\([^)]*\))\/schedule(\/|$)/i, maxMinutes: 360 },
  { kind: 'Teams channel/chat/chatMessage/team/conversationMember', pattern: /^(teams|chats|appCatalogs\/teamsApps)(\/|\(|$)|^users\/[^/]+\/chats(\/|$)/i, ...TEAMS },
  { kind: 'Teams onlineMeeting', pattern: /^(communications\/onlineMeetings|users\/[^/]+\/onlineMeetings)(\/|\(|\?|$)/i, ...TEAMS },
  { kind: 'presence', pattern: /^communications\/presences(\/|\?|$)/i, maxMinutes: 60, supportsResourceData: true },
  { kind: 'callRecord', pattern: /^communications\/callRecords(\/|$)/i, maxMinutes: 4230 },
  { kind: 'group conversation', pattern: /^groups\/[^/]+\/conversations(\/|$)/i, maxMinutes: 4230 },
  { kind: 'Outlook message/event/contact', pattern: /^(me|users\/[^/]+)\/(messages|events|contacts|mailFolders(\/[^/]+|\([^)]*\))\/messages|contactFolders(\/[^/]+|\([^)]*\))\/contacts|calendars?\/[^/]*\/?events)(\/|\?|$)/i, maxMinutes: 10080, withResourceDataMaxMinutes: 1440, supportsResourceData: true },
  { kind: 'driveItem', pattern: /^(me|users\/[^/]+|groups\/[^/]+|drives\/[^/]+|sites\/[^/]+)\/(drive\/)?root(\/|$)|^drives\/[^/]+\/root(\/|$)/i, maxMinutes: 42300 },
  { kind: 'SharePoint list', pattern: /^sites\/[^/]+\/lists\/[^/]+(\/|$)/i, maxMinutes: 42300 },
  { kind: 'security alert', pattern: /^security\/alerts(\/|\?|$)/i, maxMinutes: 43200 },
  { kind: 'todoTask', pattern: /^(me|users\/[^/]+)\/todo\/lists\/[^/]+\/tasks(\/|$)/i, maxMinutes: 4230 },
  { kind: 'print', pattern: /^print\//i, maxMinutes: 4230 },
  { kind: 'user, group and other directory resources', pattern: /^(users|groups|directory\/deletedItems|devices|servicePrincipals|applications|contacts|orgContact)(\/[^/?]+)?(\?|$)/i, maxMinutes: 41760 },
];

export class UnsupportedResourceError extends Error {
  override readonly name = 'UnsupportedResourceError';
  constructor(readonly resource: string) {
    super(`unsupported resource "${resource}": supported kinds are ${RESOURCE_LIFETIMES.map((l) => l.kind).join('; ')}`);
  }
}

/** The lifetime rule of a resource path, or throws UnsupportedResourceError listing the supported kinds. */
export function lifetimeOf(resource: string): ResourceLifetime {
  const path = resource.replace(/^\/+/, '');
  const rule = RESOURCE_LIFETIMES.find((l) => l.pattern.test(path));
  if (rule === undefined) throw new UnsupportedResourceError(resource);
  return rule;
}

/** The longest lifetime Graph allows for a subscription, in minutes. */
export function maxLifetimeMinutes(resource: string, options: { includeResourceData?: boolean; hasLifecycleUrl?: boolean } = {}): number {
  const rule = lifetimeOf(resource);
  let minutes = rule.maxMinutes;
  if (options.includeResourceData && rule.withResourceDataMaxMinutes !== undefined) minutes = Math.min(minutes, rule.withResourceDataMaxMinutes);
  if (!options.hasLifecycleUrl && rule.withoutLifecycleUrlMaxMinutes !== undefined) minutes = Math.min(minutes, rule.withoutLifecycleUrlMaxMinutes);
  return minutes;
}

/** The kinds whose subscriptions may include resource data, for messages. */
export function resourceDataKinds(): string[] {
  return RESOURCE_LIFETIMES.filter((l) => l.supportsResourceData === true).map((l) => l.kind);
}

/** A subscription asks for resource data on a kind Graph v1.0 does not include it for. */
export class ResourceDataNotSupportedError extends Error {
  override readonly name = 'ResourceDataNotSupportedError';
  constructor(
    readonly resource: string,
    readonly kind: string,
  ) {
    super(`${kind} subscriptions ("${resource}") cannot include resource data in Graph v1.0: it is supported for ${resourceDataKinds().join('; ')}`);
  }
}

/**
 * The lifetime rule of a resource that a subscription with resource data is asked for.
 * @throws UnsupportedResourceError, or ResourceDataNotSupportedError listing the kinds that support it.
 */
export function resourceDataLifetimeOf(resource: string): ResourceLifetime {
  const rule = lifetimeOf(resource);
  if (rule.supportsResourceData !== true) throw new ResourceDataNotSupportedError(resource, rule.kind);
  return rule;
}
