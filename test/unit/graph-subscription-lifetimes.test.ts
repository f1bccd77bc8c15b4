/**
 * The lifetime table against Microsoft Graph docs (Microsoft's "maximum length of subscription per resource type"),
 * with resource paths written the way Microsoft's documentation and samples write them.
 */
import {
  lifetimeOf,
  maxLifetimeMinutes,
  MIN_SUBSCRIPTION_MINUTES,
  RESOURCE_LIFETIMES,
  UnsupportedResourceError,
} from '../../shared/graph/subscription-lifetimes';

const USER = '8ee44408-0679-472c-bc2a-692812af3437';
const TEAM = 'fbe2bf47-16c8-47cf-b4a5-4b9b187c508b';
const CHANNEL = '19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2';

/** Documented maxima in minutes (Microsoft Graph docs). */
const DIRECTORY = 41_760;
const OUTLOOK = 10_080;
const OUTLOOK_WITH_RESOURCE_DATA = 1_440;
const DRIVE_AND_LISTS = 42_300;
const TEAMS = 4_320;
const TEAMS_WITHOUT_LIFECYCLE_URL = 60;
const CALL_RECORD = 4_230;
const GROUP_CONVERSATION = 4_230;
const SECURITY_ALERT = 43_200;
const PRESENCE = 60;
const TODO_TASK = 4_230;
const SHIFTS = 360;

describe('maxLifetimeMinutes: documented resources', () => {
  it.each([
    ['all users', 'users', DIRECTORY],
    ['one user', `users/${USER}`, DIRECTORY],
    ['all groups', 'groups', DIRECTORY],
    ['signed-in user messages', 'me/messages', OUTLOOK],
    ['a user messages', `users/${USER}/messages`, OUTLOOK],
    ['a user messages with a filter', `users/${USER}/messages?$filter=subject eq 'x'`, OUTLOOK],
    ['a user events', `users/${USER}/events`, OUTLOOK],
    ['a user contacts', `users/${USER}/contacts`, OUTLOOK],
    ['a driveItem root', 'drives/b!abc/root', DRIVE_AND_LISTS],
    ['the signed-in user drive root', 'me/drive/root', DRIVE_AND_LISTS],
    ['a SharePoint list', 'sites/contoso.sharepoint.com,1,2/lists/3f1e', DRIVE_AND_LISTS],
    ['channel messages', `teams/${TEAM}/channels/${CHANNEL}/messages`, TEAMS],
    ['all chat messages in the tenant', 'chats/getAllMessages', TEAMS],
    ['all channel messages in the tenant', 'teams/getAllMessages', TEAMS],
    ['a team, in the parenthesis form of Microsoft examples', `teams('${TEAM}')`, TEAMS],
    ['channel messages, in the parenthesis form', `teams('${TEAM}')/channels('${CHANNEL}')/messages`, TEAMS],
    ['call records', 'communications/callRecords', CALL_RECORD],
    ['presence of some users', `communications/presences?$filter=id in ('${USER}')`, PRESENCE],
    ['security alerts', "security/alerts?$filter=vendorInformation/provider eq 'ASC'", SECURITY_ALERT],
    ['to-do tasks of a user', `users/${USER}/todo/lists/AAMkADk/tasks`, TODO_TASK],
    ['Teams Shifts', `teams/${TEAM}/schedule/shifts`, SHIFTS],
    ['group conversations', `groups/${USER}/conversations`, GROUP_CONVERSATION],
  ])('%s (%s) lasts at most %i minutes', (_label, resource, expected) => {
    // Prepare
    const options = { hasLifecycleUrl: true };

    // Act
    const minutes = maxLifetimeMinutes(resource, options);

    // Assess
    expect(minutes).toBe(expected);
  });

  it.each([
    ['a user Inbox', `users/${USER}/mailFolders('Inbox')/messages`],
    ['the signed-in user Inbox', "me/mailFolders('inbox')/messages"],
    ['a mail folder by id', `users/${USER}/mailFolders/AAMkAGI2/messages`],
  ])('gives %s (a folder of messages, written as in Microsoft docs) the Outlook lifetime', (_label, resource) => {
    // Prepare
    const options = { hasLifecycleUrl: true };

    // Act
    const minutes = maxLifetimeMinutes(resource, options);

    // Assess
    expect(minutes).toBe(OUTLOOK);
  });

  it('gives Teams Shifts in the parenthesis form the Shifts lifetime', () => {
    // Prepare
    const resource = `teams('${TEAM}')/schedule/shifts`;

    // Act
    const minutes = maxLifetimeMinutes(resource, { hasLifecycleUrl: true });

    // Assess
    expect(minutes).toBe(SHIFTS);
  });

  it('ignores a leading slash, as Graph does', () => {
    // Prepare
    const resource = `/users/${USER}/messages`;

    // Act
    const minutes = maxLifetimeMinutes(resource);

    // Assess
    expect(minutes).toBe(OUTLOOK);
  });

  it('matches resource paths case-insensitively', () => {
    // Prepare
    const resource = `Users/${USER}/Messages`;

    // Act
    const minutes = maxLifetimeMinutes(resource);

    // Assess
    expect(minutes).toBe(OUTLOOK);
  });
});

describe('maxLifetimeMinutes: reductions', () => {
  it.each([
    ['messages', `users/${USER}/messages`],
    ['events', `users/${USER}/events`],
    ['contacts', `users/${USER}/contacts`],
  ])('limits Outlook %s with resource data to 1,440 minutes', (_label, resource) => {
    // Prepare
    const options = { includeResourceData: true, hasLifecycleUrl: true };

    // Act
    const minutes = maxLifetimeMinutes(resource, options);

    // Assess
    expect(minutes).toBe(OUTLOOK_WITH_RESOURCE_DATA);
  });

  it('does not reduce resources without a resource-data limit', () => {
    // Prepare
    const options = { includeResourceData: true, hasLifecycleUrl: true };

    // Act
    const minutes = maxLifetimeMinutes('users', options);

    // Assess
    expect(minutes).toBe(DIRECTORY);
  });

  it.each([
    ['channel messages', `teams/${TEAM}/channels/${CHANNEL}/messages`],
    ['chat messages', 'chats/getAllMessages'],
    ['a team', `teams('${TEAM}')`],
  ])('limits Teams %s without a lifecycleNotificationUrl to 60 minutes', (_label, resource) => {
    // Prepare
    const options = { hasLifecycleUrl: false };

    // Act
    const minutes = maxLifetimeMinutes(resource, options);

    // Assess
    expect(minutes).toBe(TEAMS_WITHOUT_LIFECYCLE_URL);
  });

  it('treats a missing hasLifecycleUrl as no lifecycle URL', () => {
    // Prepare
    const resource = `teams/${TEAM}/channels/${CHANNEL}/messages`;

    // Act
    const minutes = maxLifetimeMinutes(resource);

    // Assess
    expect(minutes).toBe(TEAMS_WITHOUT_LIFECYCLE_URL);
  });

  it('keeps Teams resources with resource data and a lifecycle URL at 4,320 minutes', () => {
    // Prepare
    const options = { includeResourceData: true, hasLifecycleUrl: true };

    // Act
    const minutes = maxLifetimeMinutes(`teams/${TEAM}/channels/${CHANNEL}/messages`, options);

    // Assess
    expect(minutes).toBe(TEAMS);
  });

  it('does not reduce non-Teams resources without a lifecycle URL', () => {
    // Prepare
    const options = { hasLifecycleUrl: false };

    // Act
    const minutes = maxLifetimeMinutes(`users/${USER}/messages`, options);

    // Assess
    expect(minutes).toBe(OUTLOOK);
  });

  it('never allows less than Graph minimum of 45 minutes', () => {
    // Prepare
    const floors = RESOURCE_LIFETIMES.flatMap((rule) => [rule.maxMinutes, rule.withResourceDataMaxMinutes ?? rule.maxMinutes, rule.withoutLifecycleUrlMaxMinutes ?? rule.maxMinutes]);

    // Act
    const lowest = Math.min(...floors);

    // Assess
    expect(MIN_SUBSCRIPTION_MINUTES).toBe(45);
    expect(lowest).toBeGreaterThanOrEqual(MIN_SUBSCRIPTION_MINUTES);
  });
});

describe('lifetimeOf: unsupported resources', () => {
  it('refuses an unknown resource, listing every supported kind', () => {
    // Prepare
    const resource = 'reports/getOffice365ActiveUserDetail';
    let thrown: unknown;

    // Act
    try {
      lifetimeOf(resource);
    } catch (error) {
      thrown = error;
    }

    // Assess
    expect(thrown).toBeInstanceOf(UnsupportedResourceError);
    const message = (thrown as Error).message;
    expect(message).toContain(resource);
    for (const rule of RESOURCE_LIFETIMES) expect(message).toContain(rule.kind);
  });

  it('refuses a user sub-resource that has no subscription support instead of giving it the directory lifetime', () => {
    // Prepare
    const resource = `users/${USER}/mailboxSettings`;

    // Act
    const act = () => lifetimeOf(resource);

    // Assess
    expect(act).toThrow(UnsupportedResourceError);
  });

  it('names the kind it resolved to', () => {
    // Prepare
    const resource = 'communications/callRecords';

    // Act
    const rule = lifetimeOf(resource);

    // Assess
    expect(rule.kind).toBe('callRecord');
  });
});

describe('resource data (includeResourceData) by kind', () => {
  it.each([
    ['users/8a1d/messages', true],
    ['users/8a1d/mailFolders/inbox/messages', true],
    ['users/8a1d/events', true],
    ['users/8a1d/contacts', true],
    ['teams/fbe2/channels/19:abc@thread.tacv2/messages', true],
    ['chats/19:abc@thread.v2/messages', true],
    ['communications/onlineMeetings/abc', true],
    ['communications/presences/8a1d', true],
    ['users', false],
    ['groups/8a1d', false],
    ['users/8a1d/drive/root', false],
    ['security/alerts', false],
    ['communications/callRecords', false],
  ])('%s: supported %s', (resource, supported) => {
    // Act
    const rule = lifetimeOf(resource);

    // Assess
    expect(rule.supportsResourceData === true).toBe(supported);
  });

  it('gives Outlook subscriptions with resource data 1,440 minutes instead of 10,080', () => {
    // Act
    const rich = maxLifetimeMinutes('users/8a1d/messages', { includeResourceData: true, hasLifecycleUrl: true });
    const plain = maxLifetimeMinutes('users/8a1d/messages', { hasLifecycleUrl: true });

    // Assess
    expect([rich, plain]).toEqual([1_440, 10_080]);
  });
});
