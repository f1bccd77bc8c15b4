/**
 * EventBridge event patterns: parsing (with the errors AWS gives for invalid patterns) and matching, for the
 * emulator's TestEventPattern.
 *
 * Semantics follow AWS's documentation:
 * - https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html (structure, exact values, AND across fields)
 * - https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-arrays.html (a value list is OR; event arrays match on any element)
 * - https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-null-values.html (null and "" are distinct values)
 * - https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html and
 *   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html (operators)
 * and, where the guide is silent, Event Ruler, the open-source matcher EventBridge uses
 * (https://github.com/aws/event-ruler: README "JSON Array Matching", "$or"; JsonRuleCompiler for the error reasons).
 *
 * How an event is matched, as Event Ruler does it: the event is flattened into (dotted path, leaf value) pairs,
 * crushing arrays out of the paths; a pattern field matches when some leaf at its path matches one of its
 * values, and all fields of one pattern must be matched by leaves that are not in different elements of the
 * same array ("array consistency"). Objects and empty arrays are not leaves, so `exists` only sees leaves.
 */
import { BlockList, isIP } from 'node:net';

/** The reason a pattern is invalid, worded as Event Ruler words it; AWS prefixes "Event pattern is not valid. Reason: ". */
export class InvalidEventPatternError extends Error {
  override name = 'InvalidEventPatternError';
}

type Leaf = string | number | boolean | null;
type ValueTest = (value: Leaf) => boolean;

interface FieldRule {
  /** Keys from the pattern root joined with ".", as Event Ruler joins them. */
  path: string;
  /** The field matches a leaf that passes any of these. */
  tests: ValueTest[];
  /** `{"exists": false}` is among the values: the field also matches when the event has no leaf at `path`. */
  matchesAbsence: boolean;
}

/** One way for the pattern to match: every field must match. `$or` multiplies branches. */
type Branch = ReadonlyMap<string, FieldRule>;

export interface EventPattern {
  readonly branches: readonly Branch[];
}

type JsonValue = Leaf | JsonValue[] | { [key: string]: JsonValue };
type JsonMap = { [key: string]: JsonValue };

const OR = '$or';

/** Event Ruler's RESERVED_FIELD_NAMES_IN_OR_RELATIONSHIP: not usable as field names inside `$or`. */
const RESERVED_IN_OR = new Set([
  'exactly',
  'equals-ignore-case',
  'prefix',
  'suffix',
  'anything-but',
  'exists',
  'wildcard',
  'numeric',
  'cidr',
  '=',
  '<',
  '<=',
  '>',
  '>=',
  'regex',
  'not-wildcard',
  'not-equals-ignore-case',
  'date-after',
  'date-on-or-after',
  'date-before',
  'date-on-or-before',
  'in-date-range',
  'ip-address-in-range',
  'ip-address-not-in-range',
]);

function invalid(reason: string): never {
  throw new InvalidEventPatternError(reason);
}

function isMap(value: JsonValue | undefined): value is JsonMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** How a JSON token reads in Event Ruler's messages (Jackson's getText()). */
function tokenText(value: JsonValue | undefined): string {
  if (value === undefined) return ']';
  if (Array.isArray(value)) return '[';
  if (isMap(value)) return '{';
  return typeof value === 'string' ? value : String(value);
}

function lower(value: string): string {
  return value.toLowerCase();
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------------------------

/** Parses a pattern as TestEventPattern and PutRule receive it; throws InvalidEventPatternError when AWS would refuse it. */
export function parseEventPattern(source: string): EventPattern {
  let json: unknown;
  try {
    json = JSON.parse(source);
  } catch (error) {
    invalid(error instanceof Error ? error.message : 'The pattern is not valid JSON');
  }
  if (!isMap(json as JsonValue)) invalid('Filter is not an object');
  return { branches: compileObject(json as JsonMap, [], false) };
}

/**
 * Nested `$or`s multiply into this many alternatives at most. Event Ruler expands them the same way; the cap is the
 * emulator's own, so that a hostile pattern cannot stall the process.
 */
const MAX_BRANCHES = 10_000;

/** Every combination of one branch from each list: AND of ORs. A later rule for the same path replaces an earlier one, as in Event Ruler. */
function product(left: Map<string, FieldRule>[], right: Map<string, FieldRule>[]): Map<string, FieldRule>[] {
  if (left.length * right.length > MAX_BRANCHES) {
    invalid(`Rule is too complex - the emulator expands ${OR} into at most ${MAX_BRANCHES} alternatives`);
  }
  return left.flatMap((a) => right.map((b) => new Map([...a, ...b])));
}

function compileObject(node: JsonMap, path: readonly string[], insideOr: boolean): Map<string, FieldRule>[] {
  const keys = Object.keys(node);
  if (keys.length === 0) invalid('Empty objects are not allowed');
  let branches: Map<string, FieldRule>[] = [new Map()];
  for (const key of keys) {
    const value = node[key];
    if (key === OR) {
      branches = product(branches, compileOr(value, path));
      continue;
    }
    if (insideOr && RESERVED_IN_OR.has(key)) invalid(`${key} is Ruler reserved fieldName which cannot be used inside ${OR}.`);
    const childPath = [...path, key];
    if (isMap(value)) {
      branches = product(branches, compileObject(value, childPath, insideOr));
    } else if (Array.isArray(value)) {
      const rule = compileField(childPath.join('.'), value);
      branches = product(branches, [new Map([[rule.path, rule]])]);
    } else {
      invalid(`"${key}" must be an object or an array`);
    }
  }
  return branches;
}

function compileOr(value: JsonValue | undefined, path: readonly string[]): Map<string, FieldRule>[] {
  if (!Array.isArray(value)) invalid(`It must be an Array followed with ${OR}.`);
  const alternatives = value.map((alternative) => {
    if (!isMap(alternative)) invalid(`Only JSON object is allowed in array of ${OR} relationship.`);
    return alternative;
  });
  if (alternatives.length < 2) invalid(`There must have at least 2 Objects in ${OR} relationship.`);
  return alternatives.flatMap((alternative) => compileObject(alternative, path, true));
}

function compileField(path: string, values: JsonValue[]): FieldRule {
  if (values.length === 0) invalid('Empty arrays are not allowed');
  const rule: FieldRule = { path, tests: [], matchesAbsence: false };
  for (const value of values) {
    if (isMap(value)) {
      const matcher = compileMatchExpression(value);
      if (matcher === 'absent') rule.matchesAbsence = true;
      else rule.tests.push(matcher);
    } else if (Array.isArray(value)) {
      invalid('Match value must be String, number, true, false, or null');
    } else {
      rule.tests.push(exactly(value));
    }
  }
  return rule;
}

/** Strings match strings exactly; numbers match numerically (300 matches 300.0, as Event Ruler adds a numeric-equals matcher). */
function exactly(expected: Leaf): ValueTest {
  return (value) => value === expected;
}

/** The single operator of `{ "<operator>": <argument> }`, with the argument. Extra keys are refused after the argument is checked. */
function compileMatchExpression(expression: JsonMap): ValueTest | 'absent' {
  const [operator, ...extra] = Object.keys(expression);
  if (operator === undefined) invalid('Match expression name not found');
  const argument = expression[operator];
  const onlyOneKey = (): void => {
    if (extra.length > 0) invalid('Only one key allowed in match expression');
  };
  const tooManyElements = (): void => {
    if (extra.length > 0) invalid('Too many elements in numeric expression');
  };
  switch (operator) {
    case 'prefix': {
      const test = compileAffix('prefix', argument, (value, affix) => value.startsWith(affix));
      onlyOneKey();
      return test;
    }
    case 'suffix': {
      const test = compileAffix('suffix', argument, (value, affix) => value.endsWith(affix));
      onlyOneKey();
      return test;
    }
    case 'equals-ignore-case': {
      if (typeof argument !== 'string') invalid('equals-ignore-case match pattern must be a string');
      onlyOneKey();
      const expected = lower(argument);
      return (value) => typeof value === 'string' && lower(value) === expected;
    }
    case 'wildcard': {
      if (typeof argument !== 'string') invalid('wildcard match pattern must be a string');
      onlyOneKey();
      const regex = wildcardRegExp(argument);
      return (value) => typeof value === 'string' && regex.test(value);
    }
    case 'numeric': {
      const test = compileNumeric(argument);
      tooManyElements();
      return test;
    }
    case 'anything-but': {
      const test = compileAnythingBut(argument);
      tooManyElements();
      return test;
    }
    case 'exists': {
      if (typeof argument !== 'boolean') invalid('exists match pattern must be either true or false.');
      onlyOneKey();
      return argument ? () => true : 'absent';
    }
    case 'cidr': {
      // Sic: Event Ruler (and AWS) reuse the prefix wording for a cidr that is not a string.
      if (typeof argument !== 'string') invalid('prefix match pattern must be a string');
      onlyOneKey();
      return compileCidr(argument);
    }
    default:
      return invalid(`Unrecognized match type ${operator}`);
  }
}

/** `prefix` / `suffix` with a string, or with `{ "equals-ignore-case": string }`. */
function compileAffix(operator: 'prefix' | 'suffix', argument: JsonValue | undefined, has: (value: string, affix: string) => boolean): ValueTest {
  if (typeof argument === 'string') return (value) => typeof value === 'string' && has(value, argument);
  if (isMap(argument)) {
    const [inner, ...extra] = Object.keys(argument);
    const text = inner === undefined ? undefined : argument[inner];
    if (inner === 'equals-ignore-case') {
      if (typeof text !== 'string') invalid('equals-ignore-case match pattern must be a string');
      if (extra.length > 0) invalid('Only one key allowed in match expression');
      const affix = lower(text);
      return (value) => typeof value === 'string' && has(lower(value), affix);
    }
  }
  return invalid(`${operator} match pattern must be a string`);
}

const NUMERIC_OPERATORS = new Set(['=', '<', '<=', '>', '>=']);

/** `["=", n]`, `["<" | "<=" | ">" | ">=", n]`, or `[">" | ">=", low, "<" | "<=", high]`; only JSON numbers match. */
function compileNumeric(argument: JsonValue | undefined): ValueTest {
  if (!Array.isArray(argument)) invalid('Value of numeric must be an array.');
  const [operator, operand] = argument;
  if (typeof operator !== 'string') invalid(`Invalid member in numeric match: ${tokenText(operator)}`);
  if (!NUMERIC_OPERATORS.has(operator)) invalid(`Unrecognized numeric range operator: ${operator}`);
  if (typeof operand !== 'number') invalid(`Value of ${operator === '=' ? 'equals' : operator} must be numeric`);
  const isNumber = (value: Leaf): value is number => typeof value === 'number';
  if (operator === '=' || operator === '<' || operator === '<=') {
    if (argument.length > 2) invalid('Too many elements in numeric expression');
    if (operator === '=') return (value) => isNumber(value) && value === operand;
    if (operator === '<') return (value) => isNumber(value) && value < operand;
    return (value) => isNumber(value) && value <= operand;
  }
  const above: ValueTest = operator === '>' ? (value) => isNumber(value) && value > operand : (value) => isNumber(value) && value >= operand;
  if (argument.length === 2) return above;
  const [, , upperOperator, upper] = argument;
  if (typeof upperOperator !== 'string') invalid(`Bad value in numeric range: ${tokenText(upperOperator)}`);
  if (upperOperator !== '<' && upperOperator !== '<=') invalid(`Bad numeric range operator: ${upperOperator}`);
  if (typeof upper !== 'number') invalid(`Value of ${upperOperator} must be numeric`);
  if (argument.length > 4) invalid('Too many terms in numeric range expression');
  if (operand >= upper) invalid('Bottom must be less than top');
  return (value) => above(value) && isNumber(value) && (upperOperator === '<' ? value < upper : value <= upper);
}

/**
 * `anything-but`: a string, a number, a list of only strings or only numbers, or `{prefix | suffix | wildcard |
 * equals-ignore-case: ...}`. It matches every leaf that is not excluded, null and other types included, but not
 * a missing field (a missing field has no leaf to match).
 */
function compileAnythingBut(argument: JsonValue | undefined): ValueTest {
  const notA = (excluded: (value: string) => boolean): ValueTest => (value) => !(typeof value === 'string' && excluded(value));
  if (isMap(argument)) {
    const [operator, ...extra] = Object.keys(argument);
    if (operator === undefined) invalid('Anything-But expression name not found');
    const inner = argument[operator];
    let test: ValueTest;
    if (operator === 'prefix' || operator === 'suffix') {
      if (isMap(inner)) invalid('Value of anything-but must be an array or single string/number value.');
      const affixes = stringsOf(inner, 'prefix/suffix match pattern must be a string');
      if (affixes.some((affix) => affix === '')) invalid('Null prefix/suffix not allowed');
      test = notA((value) => affixes.some((affix) => (operator === 'prefix' ? value.startsWith(affix) : value.endsWith(affix))));
    } else if (operator === 'equals-ignore-case') {
      const excluded = new Set(
        stringsOf(inner, 'Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.').map(lower),
      );
      test = notA((value) => excluded.has(lower(value)));
    } else if (operator === 'wildcard') {
      const patterns = stringsOf(inner, 'wildcard match pattern must be a string').map(wildcardRegExp);
      test = notA((value) => patterns.some((regex) => regex.test(value)));
    } else {
      return invalid(`Unsupported anything-but pattern: ${operator}`);
    }
    if (extra.length > 0) invalid('Only one key allowed in match expression');
    return test;
  }
  if (typeof argument === 'string' || typeof argument === 'number') {
    return (value) => value !== argument;
  }
  if (!Array.isArray(argument)) invalid('Value of anything-but must be an array or single string/number value.');
  if (argument.some((item) => typeof item !== 'string' && typeof item !== 'number')) {
    invalid('Inside anything but list, start|null|boolean is not supported.');
  }
  const strings = argument.filter((item) => typeof item === 'string');
  if (argument.length === 0 || (strings.length > 0 && strings.length < argument.length)) {
    invalid('Inside anything but list, either all values are number or string, mixed type is not supported');
  }
  const excluded = new Set<Leaf>(argument as Leaf[]);
  return (value) => !excluded.has(value);
}

/** A string or a list of strings, as anything-but's prefix, suffix, wildcard and equals-ignore-case accept. */
function stringsOf(value: JsonValue | undefined, message: string): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value as string[];
  return invalid(message);
}

/** `*` matches any run of characters; `\*` is a literal `*` and `\\` a literal `\`. Consecutive `*` are refused. */
function wildcardRegExp(wildcard: string): RegExp {
  let source = '';
  for (let i = 0; i < wildcard.length; i += 1) {
    const char = wildcard.charAt(i);
    if (char === '*') {
      if (wildcard.charAt(i + 1) === '*') invalid(`Consecutive wildcard characters at pos ${i + 1}`);
      source += '[\\s\\S]*';
    } else if (char === '\\') {
      const next = wildcard.charAt(i + 1);
      if (next !== '*' && next !== '\\') invalid(`Invalid escape character at pos ${i + 1}`);
      source += `\\${next}`;
      i += 1;
    } else {
      source += char.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`, 'u');
}

/** IPv4 or IPv6 `address/bits`; only string leaves holding an address of the same family inside the block match. */
function compileCidr(cidr: string): ValueTest {
  const parts = cidr.split('/');
  const [address, bitsText] = parts;
  if (parts.length !== 2 || address === undefined || bitsText === undefined) invalid("Malformed CIDR, one '/' required");
  if (!/^\d+$/.test(bitsText)) invalid('Malformed CIDR, mask bits must be an integer');
  const family = isIP(address);
  if (family === 0) invalid(`Nonstandard IP address: ${address}`);
  const bits = Number(bitsText);
  const maxBits = family === 4 ? 32 : 128;
  // Event Ruler's wording for this case is not known; the emulator states the limit.
  if (bits > maxBits) invalid(`Malformed CIDR, mask bits must be between 0 and ${maxBits}`);
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const block = new BlockList();
  block.addSubnet(address, bits, type);
  return (value) => typeof value === 'string' && isIP(value) === family && block.check(value, type);
}

// ---------------------------------------------------------------------------------------------------------------
// Matching
// ---------------------------------------------------------------------------------------------------------------

/** A leaf of the event, with the (array, index) pairs of every array it sits in. */
interface EventLeaf {
  value: Leaf;
  arrays: readonly (readonly [array: number, index: number])[];
}

/** The event's leaves by dotted path. Each array in the event gets its own number, so elements can be told apart. */
function flatten(event: unknown): Map<string, EventLeaf[]> {
  const leaves = new Map<string, EventLeaf[]>();
  let arrays = 0;
  const visit = (node: unknown, path: string, trail: EventLeaf['arrays']): void => {
    if (Array.isArray(node)) {
      const array = arrays;
      arrays += 1;
      node.forEach((element: unknown, index) => visit(element, path, [...trail, [array, index]]));
    } else if (typeof node === 'object' && node !== null) {
      for (const [key, child] of Object.entries(node)) visit(child, path === '' ? key : `${path}.${key}`, trail);
    } else if (typeof node === 'string' || typeof node === 'number' || typeof node === 'boolean' || node === null) {
      const list = leaves.get(path) ?? [];
      list.push({ value: node, arrays: trail });
      leaves.set(path, list);
    }
  };
  visit(event, '', []);
  return leaves;
}

/** Adds a leaf's array positions to those already chosen, or undefined if it sits in another element of a shared array. */
function consistentWith(chosen: ReadonlyMap<number, number>, leaf: EventLeaf): Map<number, number> | undefined {
  const next = new Map(chosen);
  for (const [array, index] of leaf.arrays) {
    const previous = next.get(array);
    if (previous !== undefined && previous !== index) return undefined;
    next.set(array, index);
  }
  return next;
}

function matchesBranch(rules: readonly FieldRule[], leaves: ReadonlyMap<string, EventLeaf[]>, chosen: ReadonlyMap<number, number>): boolean {
  const [rule, ...rest] = rules;
  if (rule === undefined) return true;
  const candidates = leaves.get(rule.path) ?? [];
  if (rule.matchesAbsence && candidates.length === 0 && matchesBranch(rest, leaves, chosen)) return true;
  return candidates.some((leaf) => {
    if (!rule.tests.some((test) => test(leaf.value))) return false;
    const next = consistentWith(chosen, leaf);
    return next !== undefined && matchesBranch(rest, leaves, next);
  });
}

/** Whether `event` (a parsed JSON event) matches the pattern. */
export function matchesEventPattern(pattern: EventPattern, event: unknown): boolean {
  const leaves = flatten(event);
  return pattern.branches.some((branch) => matchesBranch([...branch.values()], leaves, new Map()));
}
