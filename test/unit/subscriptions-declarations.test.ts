import {
  declarationKey,
  formatDeclaration,
  InvalidDeclarationError,
  parseDeclaration,
  parseDeclarations,
} from '../../shared/subscriptions/declarations';
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
