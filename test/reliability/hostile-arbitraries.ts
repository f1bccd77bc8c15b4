/**
 * fast-check arbitraries of hostile input for the intake: notification items with every field of the wrong type
 * or shape, clientStates close to the real one, prototype-pollution keys, NUL bytes, invalid UTF-8, CRLF, markup,
 * huge strings and deep nesting. Bodies are JSON text (or raw bytes) exactly as a sender would put them on the wire.
 */
import * as fc from 'fast-check';

/** What the generators know of the target: the real secret (some items carry it) and the routing it was set up with. */
export interface HostileFixture {
  integrationId: string;
  secret: string;
  /** Another integration's secret: never valid for `integrationId`. */
  otherSecret: string;
  /** Tenants with connections (lower-case GUIDs). */
  tenants: readonly string[];
  /** Known subscription ids (some of another tenant's connection). */
  subscriptionIds: readonly string[];
}

/** Keys that pollute or shadow prototypes when an object is built by assignment. */
export const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', 'toJSON', '__defineGetter__'] as const;

export const NOTIFICATION_FIELDS = [
  'subscriptionId',
  'tenantId',
  'subscriptionExpirationDateTime',
  'changeType',
  'lifecycleEvent',
  'resource',
  'resourceData',
  'clientState',
  'id',
  'encryptedContent',
] as const;

/** Strings crafted to break parsers, logs, headers and HTML. */
export const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\r\n',
  '\r\nSet-Cookie: hostile=1',
  '\r\n\r\n<html>',
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  '../../../../etc/passwd',
  '..%2F..%2Fetc%2Fpasswd',
  '%00',
  '%',
  '%E0%A4%A',
  '\ud800',
  '\udfff',
  '\ufeff',
  '\u2028\u2029',
  '${jndi:ldap://x/a}',
  '{{7*7}}',
  '__proto__',
  'constructor',
  'NaN',
  '-0',
  '1e309',
  'null',
  'true',
  'ʇsǝʇ ünïcödé 中文 🙈',
] as const;

const SPECIAL_UNITS = fc.constantFrom('\u0000', '\r', '\n', '\t', '<', '>', '"', "'", '&', '%', '\\', '/', '\u2028', '\ud800', '\udfff', '\ufeff', 'a', '0', '=', ';', ' ');

/** Short strings of any code point, of special characters, or crafted ones. */
export function hostileString(maxLength = 40): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: fc.string({ unit: 'binary', maxLength }), weight: 3 },
    { arbitrary: fc.string({ unit: SPECIAL_UNITS, maxLength }), weight: 3 },
    { arbitrary: fc.constantFrom(...NASTY_STRINGS), weight: 3 },
    { arbitrary: fc.string({ unit: 'grapheme', maxLength }), weight: 1 },
  );
}

/** Large strings (up to `maxBytes`): big enough to matter, bounded so a body stays near the 1 MB limit. */
export function hugeString(maxBytes: number): fc.Arbitrary<string> {
  return fc.tuple(fc.integer({ min: 1_000, max: maxBytes }), fc.constantFrom('x', '\u0000', '<', 'é', '🙈')).map(([n, unit]) => unit.repeat(Math.max(1, Math.floor(n / Buffer.byteLength(unit)))));
}

const key = fc.oneof({ arbitrary: fc.constantFrom(...PROTO_KEYS, ...NOTIFICATION_FIELDS), weight: 2 }, { arbitrary: hostileString(12), weight: 3 });

/** JSON values of every type, with hostile keys and strings, nested a few levels. */
export const hostileJsonValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.double(),
    fc.integer(),
    fc.constantFrom(Number.MAX_SAFE_INTEGER, -1, 0, 1e308),
    hostileString(),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(key, tie('value'), { maxKeys: 5 }),
  ),
})).value;

/** A JSON text nested `depth` levels (arrays, objects, or both alternating), built as a string. */
export function deeplyNested(depth: number, kind: 'array' | 'object' | 'mixed', leaf = '1'): string {
  if (kind === 'array') return `${'['.repeat(depth)}${leaf}${']'.repeat(depth)}`;
  if (kind === 'object') return `${'{"a":'.repeat(depth)}${leaf}${'}'.repeat(depth)}`;
  const half = Math.floor(depth / 2);
  return `${'[{"a":'.repeat(half)}${leaf}${'}]'.repeat(half)}`;
}

function guid(): fc.Arbitrary<string> {
  return fc.uuid();
}

function clientState(fixture: HostileFixture): fc.Arbitrary<unknown> {
  const { secret, otherSecret } = fixture;
  return fc.oneof(
    { arbitrary: fc.constant(secret), weight: 4 },
    {
      arbitrary: fc.constantFrom(
        otherSecret,
        secret.toUpperCase(),
        `${secret} `,
        ` ${secret}`,
        `${secret}\u0000`,
        `\u0000${secret}`,
        `${secret}\r\n`,
        secret.slice(0, -1),
        `${secret}x`,
        secret.normalize('NFD') === secret ? `${secret}\u0301` : secret.normalize('NFD'),
        '',
        'null',
      ),
      weight: 3,
    },
    { arbitrary: fc.constantFrom([secret], { value: secret }, { toString: secret }, 0, true, null), weight: 2 },
    { arbitrary: hostileJsonValue, weight: 2 },
    { arbitrary: fc.string({ maxLength: 2000 }), weight: 1 },
  );
}

/** A value of the right type for the field most of the time, anything otherwise. */
function field<T>(valid: fc.Arbitrary<T>, weightValid = 3): fc.Arbitrary<unknown> {
  return fc.oneof({ arbitrary: valid, weight: weightValid }, { arbitrary: hostileJsonValue, weight: 1 });
}

/** A notification item: mostly close to Graph's shape, each field possibly missing, wrong-typed or hostile. */
export function hostileItem(fixture: HostileFixture): fc.Arbitrary<unknown> {
  const tenants = fixture.tenants;
  const item = fc
    .tuple(
      fc.record(
        {
          subscriptionId: field(fc.oneof(guid(), fc.constantFrom(...fixture.subscriptionIds), hostileString())),
          tenantId: field(fc.oneof(fc.constantFrom(...tenants), fc.constantFrom(...tenants.map((t) => t.toUpperCase())), guid(), hostileString())),
          subscriptionExpirationDateTime: field(fc.constantFrom('2030-01-01T00:00:00Z', 'not a date')),
          changeType: field(fc.constantFrom('created', 'updated', 'deleted'), 6),
          lifecycleEvent: field(fc.constantFrom('reauthorizationRequired', 'subscriptionRemoved', 'missed')),
          resource: field(hostileString()),
          resourceData: field(fc.dictionary(key, hostileJsonValue, { maxKeys: 4 })),
          clientState: clientState(fixture),
          id: field(hostileString()),
          encryptedContent: field(fc.dictionary(fc.constantFrom('data', 'dataKey', 'dataSignature', 'encryptionCertificateId', 'encryptionCertificateThumbprint', '__proto__'), hostileString())),
        },
        { requiredKeys: [] },
      ),
      // Extra keys, prototype keys among them, set as own properties like JSON.parse does.
      fc.dictionary(key, hostileJsonValue, { maxKeys: 3 }),
      fc.boolean(),
      fc.nat(3),
    )
    .map(([fields, extra, lifecycle, encrypted]) => {
      const record: Record<string, unknown> = { ...fields };
      // Items of the right shape are mostly change notifications; lifecycleEvent alone sometimes.
      if (!lifecycle) delete record['lifecycleEvent'];
      else if (typeof record['lifecycleEvent'] === 'string') delete record['changeType'];
      // Encrypted content in one item out of four: without valid validation tokens such an item is never published.
      if (encrypted !== 0) delete record['encryptedContent'];
      for (const [k, v] of Object.entries(extra)) Object.defineProperty(record, k, { value: v, enumerable: true, writable: true, configurable: true });
      return record;
    });
  return fc.oneof({ arbitrary: item, weight: 8 }, { arbitrary: hostileJsonValue, weight: 1 });
}

/** A delivery body as an object: `value` with hostile items, maybe validation tokens, maybe prototype keys. */
export function hostileCollection(fixture: HostileFixture, maxItems = 12): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .record(
      {
        value: fc.oneof({ arbitrary: fc.array(hostileItem(fixture), { maxLength: maxItems }), weight: 9 }, { arbitrary: hostileJsonValue, weight: 1 }),
        validationTokens: fc.oneof(fc.array(hostileString(200), { maxLength: 3 }), hostileJsonValue),
        extra: fc.dictionary(key, hostileJsonValue, { maxKeys: 2 }),
      },
      { requiredKeys: ['value'] },
    )
    .map(({ value, validationTokens, extra }) => {
      const body: Record<string, unknown> = { value };
      if (validationTokens !== undefined) body['validationTokens'] = validationTokens;
      for (const [k, v] of Object.entries(extra ?? {})) {
        if (k === 'value' || k === 'validationTokens') continue;
        Object.defineProperty(body, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      return body;
    });
}

/** Ways to put hostile data on the wire: JSON of a collection, any JSON, any text, or raw bytes (invalid UTF-8, NUL). */
export type WireBody = { kind: 'text'; text: string } | { kind: 'bytes'; bytes: Uint8Array };

/** Prototype-pollution attempts written as JSON text, where JSON.parse keeps `__proto__` as an own key. */
export function pollutionText(fixture: HostileFixture): fc.Arbitrary<string> {
  return fc.constantFrom(...['__proto__', 'constructor', 'prototype']).chain((k) =>
    fc.constantFrom(
      `{"value":[],"${k}":{"polluted":"yes","isAdmin":true}}`,
      `{"${k}":{"value":[{"subscriptionId":"s","tenantId":"${fixture.tenants[0]}","changeType":"created","clientState":"${fixture.secret}"}]}}`,
      `{"value":[{"subscriptionId":"s","tenantId":"${fixture.tenants[0]}","changeType":"created","${k}":{"clientState":"${fixture.secret}","polluted":"yes"}}]}`,
      `{"value":[{"subscriptionId":"s","tenantId":"${fixture.tenants[0]}","changeType":"created","clientState":"forged-${k}","constructor":{"prototype":{"polluted":"yes","clientState":"${fixture.secret}"}}}]}`,
      `{"value":{"${k}":[],"length":1,"0":{"subscriptionId":"s"}}}`,
      `{"value":[{"subscriptionId":"s","tenantId":"t","changeType":"created","resourceData":{"${k}":{"polluted":"yes"}},"encryptedContent":{"${k}":{"polluted":"yes"}}}],"validationTokens":{"${k}":["x"]}}`,
    ),
  );
}

export function wireBody(fixture: HostileFixture): fc.Arbitrary<WireBody> {
  const text = (t: fc.Arbitrary<string>) => t.map((s): WireBody => ({ kind: 'text', text: s }));
  return fc.oneof(
    { arbitrary: text(hostileCollection(fixture).map((b) => JSON.stringify(b))), weight: 10 },
    { arbitrary: text(pollutionText(fixture)), weight: 2 },
    { arbitrary: text(fc.json({ maxDepth: 4, stringUnit: 'binary' })), weight: 2 },
    { arbitrary: text(hostileJsonValue.map((v) => JSON.stringify(v) ?? 'undefined')), weight: 2 },
    { arbitrary: text(hostileString(200)), weight: 1 },
    // JSON text with bytes spliced in: invalid UTF-8 sequences, NUL, overlong encodings, lone continuation bytes.
    {
      arbitrary: fc
        .tuple(hostileCollection(fixture, 3), fc.uint8Array({ maxLength: 16 }), fc.constantFrom(0xff, 0xc0, 0x80, 0x00, 0xed, 0xf8), fc.nat())
        .map(([body, noise, bad, at]): WireBody => {
          const json = Buffer.from(JSON.stringify(body));
          const cut = at % (json.length + 1);
          return { kind: 'bytes', bytes: Buffer.concat([json.subarray(0, cut), Buffer.from([bad]), noise, json.subarray(cut)]) };
        }),
      weight: 2,
    },
    { arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes): WireBody => ({ kind: 'bytes', bytes })), weight: 1 },
  );
}

export function wireBytes(body: WireBody): Buffer {
  return body.kind === 'text' ? Buffer.from(body.text, 'utf8') : Buffer.from(body.bytes);
}

/** Validation tokens as a sender may send them in the query: crafted, of any code point, or large. */
export function hostileToken(): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: hostileString(200), weight: 6 },
    { arbitrary: fc.constantFrom('Validation: Testing client application reachability for subscription Request-Id: 2f3f9c8b-8a3e-4c6f-9d2b-1c0e5a7b9d11'), weight: 1 },
    { arbitrary: hugeString(64 * 1024), weight: 1 },
  );
}
