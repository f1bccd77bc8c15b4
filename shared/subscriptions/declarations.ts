import { deltaRequestFor } from '../graph/delta-queries';
import { lifetimeOf, ResourceDataNotSupportedError, resourceDataLifetimeOf, UnsupportedResourceError } from '../graph/subscription-lifetimes';

/**
 * A connection's desired Graph subscriptions are data: human-readable strings `<resource>:<changeTypes>`, such as
 * `users:created,updated,deleted` or `users/8a1d…/messages:created`, kept on the connection item so an operator
 * can edit them in the DynamoDB console. The change types come after the LAST `:`, because resource paths may
 * contain `:` themselves (Teams channel ids such as `19:abc@thread.tacv2`, OData keys, `$filter` values).
 *
 * Options follow the change types after `;`: `users/8a1d…/messages:created;includeResourceData` asks Graph to
 * include the resource, encrypted, in each notification (rich notifications). `;resync` declares that changes missed
 * while notifications were not arriving are to be caught up with the resource's Graph delta query (the mapping is in
 * shared/graph/delta-queries.ts); it is refused for resources without one. Options are read case-insensitively, in
 * any order, and always written in their canonical spelling and order (DECLARATION_OPTIONS).
 */

/** In Graph's canonical order: the order declarations are normalized to. */
export const CHANGE_TYPES = ['created', 'updated', 'deleted'] as const;
export type ChangeType = (typeof CHANGE_TYPES)[number];

export interface Declaration {
  /** Relative to the Graph root, without a leading `/`. */
  resource: string;
  /** Deduplicated, in the order of CHANGE_TYPES; never empty. */
  changeTypes: ChangeType[];
  /** Rich notifications (`;includeResourceData`); absent means false. */
  includeResourceData?: boolean;
  /**
   * Catch up with the resource's delta query (`;resync`); absent means no catch-up. Only declared so far: catch-up
   * runs, which will read it, are not built yet, so nothing in the reconciler or renewal looks at it.
   */
  resync?: true;
}

/** The options a declaration may carry after `;`, in their canonical spelling and order. */
export const DECLARATION_OPTIONS = ['includeResourceData', 'resync'] as const;
type DeclarationOption = (typeof DECLARATION_OPTIONS)[number];

/** The canonical spelling of an option written in any case, or undefined for an unknown one. */
function optionNamed(text: string): DeclarationOption | undefined {
  return DECLARATION_OPTIONS.find((option) => option.toLowerCase() === text.toLowerCase());
}

export class InvalidDeclarationError extends Error {
  override readonly name = 'InvalidDeclarationError';
  constructor(
    readonly declaration: string,
    readonly reason: string,
  ) {
    // JSON quoting keeps the message on one line whatever an operator typed.
    super(`invalid subscription declaration ${JSON.stringify(declaration)}: ${reason}`);
  }
}

const EXAMPLE = 'expected <resource>:<changeTypes>, e.g. users:created,updated,deleted';

function isChangeType(value: string): value is ChangeType {
  return (CHANGE_TYPES as readonly string[]).includes(value);
}

/** Parses `<resource>:<changeTypes>` or throws InvalidDeclarationError with a one-line reason. */
export function parseDeclaration(text: string): Declaration {
  const separator = text.lastIndexOf(':');
  if (separator < 0) throw new InvalidDeclarationError(text, EXAMPLE);
  const resource = text.slice(0, separator).trim().replace(/^\/+/, '');
  if (resource === '') throw new InvalidDeclarationError(text, `empty resource; ${EXAMPLE}`);
  if (/\s/.test(resource.replace(/\?.*$/, ''))) {
    throw new InvalidDeclarationError(text, 'the resource path contains white space');
  }
  const [typesText = '', ...optionTexts] = text.slice(separator + 1).split(';');
  const options = optionTexts.map((part) => part.trim()).filter((part) => part !== '');
  const unknownOptions = options.filter((option) => optionNamed(option) === undefined);
  if (unknownOptions.length > 0) {
    throw new InvalidDeclarationError(
      text,
      `unknown option${unknownOptions.length > 1 ? 's' : ''} ${unknownOptions.map((o) => JSON.stringify(o)).join(', ')}: the options are ${DECLARATION_OPTIONS.join(', ')}`,
    );
  }
  const includeResourceData = options.some((option) => optionNamed(option) === 'includeResourceData');
  const resync = options.some((option) => optionNamed(option) === 'resync');
  const requested = typesText
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  if (requested.length === 0) throw new InvalidDeclarationError(text, `no change types; ${EXAMPLE}`);
  const unknown = requested.filter((part) => !isChangeType(part));
  if (unknown.length > 0) {
    throw new InvalidDeclarationError(
      text,
      `unknown change type${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => JSON.stringify(u)).join(', ')}: allowed are ${CHANGE_TYPES.join(', ')}`,
    );
  }
  try {
    if (includeResourceData) resourceDataLifetimeOf(resource);
    else lifetimeOf(resource);
  } catch (error) {
    if (error instanceof UnsupportedResourceError || error instanceof ResourceDataNotSupportedError) throw new InvalidDeclarationError(text, error.message);
    throw error;
  }
  if (resync) {
    const delta = deltaRequestFor(resource);
    if (!delta.supported) throw new InvalidDeclarationError(text, `;resync needs a Graph delta query: ${delta.message}`);
  }
  const changeTypes = CHANGE_TYPES.filter((type) => requested.includes(type));
  return {
    resource,
    changeTypes,
    ...(includeResourceData ? { includeResourceData: true } : {}),
    ...(resync ? { resync: true as const } : {}),
  };
}

/** The human-readable form, as stored on the connection item: options in the order of DECLARATION_OPTIONS. */
export function formatDeclaration(declaration: Declaration): string {
  const types = CHANGE_TYPES.filter((type) => declaration.changeTypes.includes(type)).join(',');
  const options = DECLARATION_OPTIONS.filter((option) => declaration[option] === true).map((option) => `;${option}`);
  return `${declaration.resource}:${types}${options.join('')}`;
}

/**
 * The canonical string of a declaration, for set comparison: two declarations (or a declaration and a subscription
 * record) with the same key ask Graph for the same subscription. The resource is compared as written, except for
 * a leading `/`. includeResourceData is part of the key: switching it means another subscription. resync is not:
 * it changes how missed changes are caught up, not what Graph is asked for, so toggling it keeps the subscription
 * (and subscription records, which do not carry it, keep matching their declaration).
 */
export function declarationKey(declaration: Declaration): string {
  const { resync: _resync, ...subscription } = declaration;
  return formatDeclaration({ ...subscription, resource: declaration.resource.replace(/^\/+/, '') });
}

/**
 * Parses a connection's declarations one by one: an invalid one is reported and skipped, never fatal to the rest.
 * Duplicates (same key) are kept once, at the first one's place, with resync if any of them declares it.
 */
export function parseDeclarations(texts: readonly string[]): {
  declarations: Declaration[];
  invalid: { declaration: string; reason: string }[];
} {
  const byKey = new Map<string, Declaration>();
  const invalid: { declaration: string; reason: string }[] = [];
  for (const text of texts) {
    try {
      const declaration = parseDeclaration(text);
      const key = declarationKey(declaration);
      const earlier = byKey.get(key);
      byKey.set(key, earlier?.resync === true ? { ...declaration, resync: true } : declaration);
    } catch (error) {
      if (!(error instanceof InvalidDeclarationError)) throw error;
      invalid.push({ declaration: text, reason: error.message });
    }
  }
  return { declarations: [...byKey.values()], invalid };
}
