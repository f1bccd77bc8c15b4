import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CALENDAR_VIEW_WINDOW, DELTA_QUERIES, deltaRequestFor, deltaResources, type DeltaRequest } from '../../shared/graph/delta-queries';
import { lifetimeOf } from '../../shared/graph/subscription-lifetimes';

const USER = '8a1d4c2e-5b6f-4e7a-9c8d-0e1f2a3b4c5d';
const GROUP = '0d2f7c41-5b6e-4a8f-9c3d-7e1a2b4c6d80';
const TEAM = 'fbe2bf47-16c8-47cf-b4a5-4b9b187c508b';
const CHANNEL = '19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2';
const DRIVE = 'b!Q2fZ1x-drive';
const SITE = 'contoso.sharepoint.com,2C712604-1370-44E7-A1F5-426573FDA80A,2D2244C3-251A-49EA-93A8-39E1C3A060FE';
const LIST = '22e03ef3-6ef4-424d-a1d3-92a337807c30';
const FOLDER = 'AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OAAuAAAAAAAiQ8W967B7TKBjgx9rVEURAQAiIsqMbYjsT5e-T7KzowPTAAAAAAEMAAA=';
/** A Wednesday afternoon: the calendarView window starts and ends at midnight UTC. */
const NOW = new Date('2026-03-18T15:42:07.123Z');

/** A resource pattern of the table with its placeholders filled in: GUIDs where the row needs them. */
function fill(pattern: string): string {
  return pattern.replace(/\{group[^}]*\}/g, GROUP).replace(/\{user[^}]*\}/g, USER).replace(/\{[^}]+\}/g, 'x1');
}

/** The request for a resource, or fails the test when it is refused. */
function requestFor(resource: string): DeltaRequest {
  const answer = deltaRequestFor(resource, NOW);
  if (!answer.supported) throw new Error(`expected a delta request for ${resource}, got: ${answer.message}`);
  return answer;
}

describe('deltaRequestFor', () => {
  it.each<[string, string, string, string | undefined]>([
    ['users', 'users', '/users/delta', '/users/delta?$deltatoken=latest'],
    ['/Users', 'users', '/users/delta', '/users/delta?$deltatoken=latest'],
    [`users/${USER}`, 'one user', `/users/delta?$filter=id%20eq%20'${USER}'`, `/users/delta?$filter=id%20eq%20'${USER}'&$deltatoken=latest`],
    ['groups', 'groups', '/groups/delta', '/groups/delta?$deltatoken=latest'],
    [`groups/${GROUP}`, 'one group', `/groups/delta?$filter=id%20eq%20'${GROUP}'`, `/groups/delta?$filter=id%20eq%20'${GROUP}'&$deltatoken=latest`],
    ['applications', 'applications', '/applications/delta', '/applications/delta?$deltatoken=latest'],
    ['servicePrincipals', 'service principals', '/servicePrincipals/delta', '/servicePrincipals/delta?$deltatoken=latest'],
    ['contacts', 'organizational contacts', '/contacts/delta', '/contacts/delta?$deltatoken=latest'],
    ['devices', 'devices', "/directoryObjects/delta?$filter=isof('microsoft.graph.device')", "/directoryObjects/delta?$filter=isof('microsoft.graph.device')&$deltatoken=latest"],
    [`users/${USER}/mailFolders/inbox/messages`, 'messages of a mail folder', `/users/${USER}/mailFolders/inbox/messages/delta`, undefined],
    [`users/${USER}/mailFolders('${FOLDER}')/messages`, 'messages of a mail folder', `/users/${USER}/mailFolders/${FOLDER}/messages/delta`, undefined],
    [`users/${USER}/contactFolders/${FOLDER}/contacts`, 'contacts of a contact folder', `/users/${USER}/contactFolders/${FOLDER}/contacts/delta`, undefined],
    [`users/${USER}/events`, 'events of the primary calendar', `/users/${USER}/calendarView/delta?startDateTime=2026-02-16T00:00:00.000Z&endDateTime=2027-03-18T00:00:00.000Z`, undefined],
    [`users/${USER}/calendar/events`, 'events of the primary calendar', `/users/${USER}/calendarView/delta?startDateTime=2026-02-16T00:00:00.000Z&endDateTime=2027-03-18T00:00:00.000Z`, undefined],
    [`drives/${DRIVE}/root`, 'drive items', `/drives/${DRIVE}/root/delta`, `/drives/${DRIVE}/root/delta?token=latest`],
    [`users/${USER}/drive/root`, 'drive items', `/users/${USER}/drive/root/delta`, `/users/${USER}/drive/root/delta?token=latest`],
    [`groups/${GROUP}/drive/root`, 'drive items', `/groups/${GROUP}/drive/root/delta`, `/groups/${GROUP}/drive/root/delta?token=latest`],
    [`sites/${SITE}/drive/root`, 'drive items', `/sites/${SITE}/drive/root/delta`, `/sites/${SITE}/drive/root/delta?token=latest`],
    [`sites/${SITE}/lists/${LIST}`, 'SharePoint list items', `/sites/${SITE}/lists/${LIST}/items/delta`, `/sites/${SITE}/lists/${LIST}/items/delta?token=latest`],
    [`teams/${TEAM}/channels/${CHANNEL}/messages`, 'channel messages', `/teams/${TEAM}/channels/${CHANNEL}/messages/delta`, undefined],
    [`teams('${TEAM}')/channels('${CHANNEL}')/messages`, 'channel messages', `/teams/${TEAM}/channels/${CHANNEL}/messages/delta`, undefined],
    [`users/${USER}/chats/getAllMessages`, "a user's chat messages", `/users/${USER}/chats/getAllMessages/delta`, undefined],
    [`users/${USER}/todo/lists/${LIST}/tasks`, 'To Do tasks of a list', `/users/${USER}/todo/lists/${LIST}/tasks/delta`, undefined],
  ])('maps %s (%s) to %s', (resource, kind, path, baselinePath) => {
    // Act
    const request = requestFor(resource);

    // Assess
    expect(request.kind).toBe(kind);
    expect(request.path).toBe(path);
    expect(request.baselinePath).toBe(baselinePath);
    expect(request.baseline).toBe(baselinePath === undefined ? 'full-sync' : baselinePath.endsWith('$deltatoken=latest') ? 'deltatoken-latest' : 'token-latest');
    expect(request.docs).toMatch(/^https:\/\/learn\.microsoft\.com\/graph\//);
  });

  it('matches every resource pattern a row shows to that row', () => {
    // Act
    const kinds = DELTA_QUERIES.map((query) => query.resources.map((resource) => requestFor(fill(resource)).kind));

    // Assess
    expect(kinds).toEqual(DELTA_QUERIES.map((query) => query.resources.map(() => query.kind)));
  });

  it('only offers resync for resources graph-relay can subscribe to', () => {
    // Act
    const unsubscribable = deltaResources().filter((resource) => {
      try {
        lifetimeOf(fill(resource));
        return false;
      } catch {
        return true;
      }
    });

    // Assess
    expect(unsubscribable).toEqual([]);
  });

  it(`places the calendarView window ${CALENDAR_VIEW_WINDOW.daysBefore} days back and ${CALENDAR_VIEW_WINDOW.daysAfter} ahead of the day of the resync`, () => {
    // Act
    const late = deltaRequestFor(`users/${USER}/events`, new Date('2026-03-18T23:59:59.999Z'));
    const nextDay = deltaRequestFor(`users/${USER}/events`, new Date('2026-03-19T00:00:00.000Z'));

    // Assess
    expect(late.supported && late.path).toBe(requestFor(`users/${USER}/events`).path);
    expect(nextDay.supported && nextDay.path).toBe(`/users/${USER}/calendarView/delta?startDateTime=2026-02-17T00:00:00.000Z&endDateTime=2027-03-19T00:00:00.000Z`);
  });

  it.each([
    [`users/${USER}/messages`, 'messages have delta queries per mail folder: declare users/{user}/mailFolders/{folder}/messages'],
    [`users/${USER}/contacts`, 'contacts have delta queries per contact folder'],
    ['users/alice@contoso.com', 'a single user is tracked by object id'],
    [`users/${USER}/mailFolders/inbox/messages?$filter=isRead eq false`, 'delta queries take no subscription query options'],
    [`users/${USER}/calendars/${FOLDER}/events`, undefined],
    [`chats/${CHANNEL}/messages`, undefined],
    ['chats/getAllMessages', undefined],
    [`teams/${TEAM}/channels/getAllMessages`, undefined],
    [`groups/${GROUP}/conversations`, undefined],
    ['communications/presences?$filter=id in (\'x\')', 'delta queries take no subscription query options'],
    ['security/alerts', undefined],
    ['directory/deletedItems', undefined],
    ['users/delta', undefined],
  ])('refuses %s with one line naming every supported resource', (resource, hint) => {
    // Act
    const answer = deltaRequestFor(resource, NOW);

    // Assess
    if (answer.supported) throw new Error(`expected ${resource} to be refused`);
    expect(answer.resource).toBe(resource);
    expect(answer.supportedResources).toEqual(DELTA_QUERIES.flatMap((query) => query.resources));
    expect(answer.message).not.toMatch(/\n/);
    expect(answer.message.endsWith(`; resync is supported for ${answer.supportedResources.join(', ')}`)).toBe(true);
    if (hint !== undefined) expect(answer.message).toContain(hint);
    else expect(answer.message).toMatch(/^Graph has no delta query for "[^"]+"; /);
  });
});

describe('README, "Catch-up with delta queries"', () => {
  it('lists every resource that has a delta query, and the calendarView window', () => {
    // Prepare
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    const start = readme.indexOf('#### Catch-up with delta queries');
    const section = readme.slice(start, readme.indexOf('\n### ', start));

    // Act
    const missing = deltaResources().filter((resource) => !section.includes(`\`${resource}\``));

    // Assess
    expect(start).toBeGreaterThan(-1);
    expect(missing).toEqual([]);
    expect(section).toContain(`${CALENDAR_VIEW_WINDOW.daysBefore} days before the resync to ${CALENDAR_VIEW_WINDOW.daysAfter} days after it`);
  });
});
