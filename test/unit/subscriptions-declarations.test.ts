import {
  declarationKey,
  formatDeclaration,
  InvalidDeclarationError,
  parseDeclaration,
  parseDeclarations,
} from '../../shared/subscriptions/declarations';
import { deltaResources } from '../../shared/graph/delta-queries';
import { RESOURCE_LIFETIMES } from '../../shared/graph/subscription-lifetimes';

const USER = '8a1d4c2e-5b6f-4e7a-9c8d-0e1f2a3b4c5d';
const TEAM = 'fbe2bf47-16c8-47cf-b4a5-4b9b187c508b';
const CHANNEL = '19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2';

/** The error a declaration is refused with, or fails the test if it is accepted. */
function refusal(text: string): InvalidDeclarationError {
  try {
    parseDeclaration(text);
  } catch (error) {
    if (error instanceof InvalidDeclarationError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be refused`);
}

describe('parseDeclaration', () => {
  it.each([
    ['users:created,updated,deleted', 'users', ['created', 'updated', 'deleted']],
    [`users/${USER}/messages:created`, `users/${USER}/messages`, ['created']],
    [`teams/${TEAM}/channels/${CHANNEL}/messages:created,updated`, `teams/${TEAM}/channels/${CHANNEL}/messages`, ['created', 'updated']],
    [`teams('${TEAM}')/channels:deleted`, `teams('${TEAM}')/channels`, ['deleted']],
    ['/groups:updated', 'groups', ['updated']],
    [' users : deleted , created ', 'users', ['created', 'deleted']],
    ['users:updated,created,updated', 'users', ['created', 'updated']],
  ])('parses %s', (text, resource, changeTypes) => {
    // Act
    const declaration = parseDeclaration(text);

    // Assess
    expect(declaration).toEqual({ resource, changeTypes });
  });

  it('splits on the last ":" so change types never swallow part of the resource', () => {
    // Act
    const declaration = parseDeclaration(`users/${USER}/messages?$filter=receivedDateTime ge 2024-01-01T00:00:00Z:created`);

    // Assess
    expect(declaration.resource).toBe(`users/${USER}/messages?$filter=receivedDateTime ge 2024-01-01T00:00:00Z`);
    expect(declaration.changeTypes).toEqual(['created']);
  });

  it.each([
    ['users', 'invalid subscription declaration "users": expected <resource>:<changeTypes>, e.g. users:created,updated,deleted'],
    [':created', 'invalid subscription declaration ":created": empty resource; expected <resource>:<changeTypes>, e.g. users:created,updated,deleted'],
    ['users:', 'invalid subscription declaration "users:": no change types; expected <resource>:<changeTypes>, e.g. users:created,updated,deleted'],
    ['users: , ', 'invalid subscription declaration "users: , ": no change types; expected <resource>:<changeTypes>, e.g. users:created,updated,deleted'],
    ['users:created,removed', 'invalid subscription declaration "users:created,removed": unknown change type "removed": allowed are created, updated, deleted'],
    ['users:Created,upsert', 'invalid subscription declaration "users:Created,upsert": unknown change types "Created", "upsert": allowed are created, updated, deleted'],
    ['users/a b:created', 'invalid subscription declaration "users/a b:created": the resource path contains white space'],
  ])('refuses %j with a clear one-line message', (text, message) => {
    // Act
    const error = refusal(text);

    // Assess
    expect(error.message).toBe(message);
    expect(error.declaration).toBe(text);
  });

  it('refuses an unsupported resource, listing the supported kinds', () => {
    // Act
    const error = refusal('planner/tasks:created');

    // Assess
    expect(error.message).toMatch(/^invalid subscription declaration "planner\/tasks:created": unsupported resource "planner\/tasks": supported kinds are /);
    for (const { kind } of RESOURCE_LIFETIMES) expect(error.message).toContain(kind);
  });

  it('keeps a message with a line break on one line', () => {
    // Act
    const error = refusal('users\n:removed');

    // Assess
    expect(error.message).not.toMatch(/\n/);
    expect(error.message).toContain('"users\\n:removed"');
  });
});

describe('formatDeclaration and declarationKey', () => {
  it('round-trips through parseDeclaration in canonical form', () => {
    // Prepare
    const texts = ['users:deleted,created', `teams/${TEAM}/channels/${CHANNEL}/messages:updated,created`];

    // Act
    const formatted = texts.map((text) => formatDeclaration(parseDeclaration(text)));

    // Assess
    expect(formatted).toEqual(['users:created,deleted', `teams/${TEAM}/channels/${CHANNEL}/messages:created,updated`]);
    expect(formatted.map((text) => formatDeclaration(parseDeclaration(text)))).toEqual(formatted);
  });

  it('gives equal keys to declarations that ask for the same subscription', () => {
    // Act
    const a = declarationKey(parseDeclaration('/users:updated, created'));
    const b = declarationKey({ resource: 'users', changeTypes: ['created', 'updated'] });
    const c = declarationKey(parseDeclaration('users:created'));

    // Assess
    expect(a).toBe('users:created,updated');
    expect(b).toBe(a);
    expect(c).not.toBe(a);
  });
});

describe('parseDeclarations', () => {
  it('keeps the valid ones once and reports the invalid ones without failing', () => {
    // Act
    const result = parseDeclarations(['users:created', 'nonsense', 'users:created', '/users:created', 'groups:bogus', `users/${USER}/events:updated`]);

    // Assess
    expect(result.declarations).toEqual([
      { resource: 'users', changeTypes: ['created'] },
      { resource: `users/${USER}/events`, changeTypes: ['updated'] },
    ]);
    expect(result.invalid).toEqual([
      { declaration: 'nonsense', reason: expect.stringContaining('expected <resource>:<changeTypes>') },
      { declaration: 'groups:bogus', reason: expect.stringContaining('unknown change type "bogus"') },
    ]);
  });
});

describe('declarations with resource data (;includeResourceData)', () => {
  it.each([
    [`users/${USER}/messages:created;includeResourceData`],
    [`users/${USER}/messages:created;INCLUDERESOURCEDATA`],
    [`users/${USER}/messages: created ; includeresourcedata `],
    [`users/${USER}/messages:created;includeResourceData;includeResourceData`],
  ])('parses %j and writes it back in the canonical form', (text) => {
    // Act
    const declaration = parseDeclaration(text);

    // Assess
    expect(declaration).toEqual({ resource: `users/${USER}/messages`, changeTypes: ['created'], includeResourceData: true });
    expect(formatDeclaration(declaration)).toBe(`users/${USER}/messages:created;includeResourceData`);
  });

  it('keeps the last-":" rule for resources containing ":" (Teams channel ids)', () => {
    // Act
    const declaration = parseDeclaration(`teams/${TEAM}/channels/${CHANNEL}/messages:created,updated;includeResourceData`);

    // Assess
    expect(declaration).toEqual({ resource: `teams/${TEAM}/channels/${CHANNEL}/messages`, changeTypes: ['created', 'updated'], includeResourceData: true });
  });

  it('makes includeResourceData part of the identity: the rich and the plain declaration are two subscriptions', () => {
    // Prepare
    const plain = parseDeclaration(`users/${USER}/messages:created`);
    const rich = parseDeclaration(`users/${USER}/messages:created;includeResourceData`);

    // Act
    const { declarations } = parseDeclarations([formatDeclaration(plain), formatDeclaration(rich), `users/${USER}/messages:created;includeresourcedata`]);

    // Assess
    expect(declarationKey(plain)).not.toBe(declarationKey(rich));
    expect(declarations).toEqual([plain, rich]);
  });

  it('refuses an unknown option, naming the options there are', () => {
    // Act
    const error = refusal(`users/${USER}/messages:created;includeResource`);

    // Assess
    expect(error.message).toBe(
      `invalid subscription declaration "users/${USER}/messages:created;includeResource": unknown option "includeResource": the options are includeResourceData, resync`,
    );
  });

  it.each([['users:created,updated;includeResourceData'], [`groups/${TEAM}:updated;includeResourceData`], [`users/${USER}/drive/root:updated;includeResourceData`]])(
    'refuses %j: Graph v1.0 sends no resource data for that kind, and the message lists the kinds that have it',
    (text) => {
      // Act
      const error = refusal(text);

      // Assess
      expect(error.reason).toMatch(/cannot include resource data in Graph v1\.0: it is supported for /);
      for (const kind of RESOURCE_LIFETIMES.filter((l) => l.supportsResourceData === true).map((l) => l.kind)) expect(error.reason).toContain(kind);
      expect(error.reason).not.toContain('user, group and other directory resources;');
    },
  );
});

describe('declarations with catch-up (;resync)', () => {
  const FOLDER_MESSAGES = `users/${USER}/mailFolders/inbox/messages`;

  it.each([
    [`${FOLDER_MESSAGES}:created;resync`, `${FOLDER_MESSAGES}:created;resync`, { resource: FOLDER_MESSAGES, changeTypes: ['created'], resync: true }],
    [`${FOLDER_MESSAGES}:created; RESYNC `, `${FOLDER_MESSAGES}:created;resync`, { resource: FOLDER_MESSAGES, changeTypes: ['created'], resync: true }],
    [`${FOLDER_MESSAGES}:created;resync;includeResourceData`, `${FOLDER_MESSAGES}:created;includeResourceData;resync`, { resource: FOLDER_MESSAGES, changeTypes: ['created'], includeResourceData: true, resync: true }],
    [`${FOLDER_MESSAGES}:created;includeresourcedata;Resync;resync`, `${FOLDER_MESSAGES}:created;includeResourceData;resync`, { resource: FOLDER_MESSAGES, changeTypes: ['created'], includeResourceData: true, resync: true }],
    ['/users:updated,created;resync', 'users:created,updated;resync', { resource: 'users', changeTypes: ['created', 'updated'], resync: true }],
    [`teams/${TEAM}/channels/${CHANNEL}/messages:created;resync`, `teams/${TEAM}/channels/${CHANNEL}/messages:created;resync`, { resource: `teams/${TEAM}/channels/${CHANNEL}/messages`, changeTypes: ['created'], resync: true }],
  ])('parses %j, in any order and case, and writes it back as %j', (text, canonical, expected) => {
    // Act
    const declaration = parseDeclaration(text);

    // Assess
    expect(declaration).toEqual(expected);
    expect(formatDeclaration(declaration)).toBe(canonical);
    expect(parseDeclaration(canonical)).toEqual(declaration);
  });

  it('leaves resync out of the key: toggling it asks Graph for the same subscription', () => {
    // Prepare
    const plain = parseDeclaration(`${FOLDER_MESSAGES}:created`);
    const resync = parseDeclaration(`${FOLDER_MESSAGES}:created;resync`);
    const rich = parseDeclaration(`${FOLDER_MESSAGES}:created;includeResourceData`);
    const richResync = parseDeclaration(`${FOLDER_MESSAGES}:created;resync;includeResourceData`);
    // A subscription record carries no resync.
    const record = { resource: FOLDER_MESSAGES, changeTypes: ['created' as const], includeResourceData: true };

    // Act
    const keys = [plain, resync, rich, richResync, record].map(declarationKey);

    // Assess
    expect(keys).toEqual([
      `${FOLDER_MESSAGES}:created`,
      `${FOLDER_MESSAGES}:created`,
      `${FOLDER_MESSAGES}:created;includeResourceData`,
      `${FOLDER_MESSAGES}:created;includeResourceData`,
      `${FOLDER_MESSAGES}:created;includeResourceData`,
    ]);
  });

  it('keeps a declaration written with and without resync once, at the first place, with resync', () => {
    // Act
    const { declarations } = parseDeclarations(['users:created;resync', 'groups:updated', '/users:created', `${FOLDER_MESSAGES}:created`, `${FOLDER_MESSAGES}:created;resync`]);

    // Assess
    expect(declarations).toEqual([
      { resource: 'users', changeTypes: ['created'], resync: true },
      { resource: 'groups', changeTypes: ['updated'] },
      { resource: FOLDER_MESSAGES, changeTypes: ['created'], resync: true },
    ]);
  });

  it.each([
    [`users/${USER}/messages:created;resync`, 'messages have delta queries per mail folder'],
    [`users/${USER}/contacts:created;resync`, 'contacts have delta queries per contact folder'],
    ['security/alerts:created;resync', undefined],
    [`chats/${CHANNEL}/messages:created;resync`, undefined],
    ['users/alice@contoso.com:updated;resync', 'a single user is tracked by object id'],
  ])('refuses %j: the resource has no delta query, and the message lists those that have one', (text, hint) => {
    // Act
    const error = refusal(text);

    // Assess
    expect(error.message).not.toMatch(/\n/);
    expect(error.reason).toMatch(/^;resync needs a Graph delta query: Graph has no delta query for "[^"]+"/);
    if (hint !== undefined) expect(error.reason).toContain(hint);
    expect(error.reason).toContain(`; resync is supported for ${deltaResources().join(', ')}`);
  });

  it('checks the resource before resync: an unsupported resource is refused as one', () => {
    // Act
    const error = refusal('planner/tasks:created;resync');

    // Assess
    expect(error.reason).toMatch(/^unsupported resource "planner\/tasks"/);
  });
});
