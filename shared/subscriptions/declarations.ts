import { lifetimeOf, ResourceDataNotSupportedError, resourceDataLifetimeOf, UnsupportedResourceError } from '../graph/subscription-lifetimes';

/**
 * A connection's desired Graph subscriptions are data: human-readable strings `<resource>:<changeTypes>`, such as
 * `users:created,updated,deleted` or `users/8a1d…/messages:created`, kept on the connection item so an operator
 * can edit them in the DynamoDB console. The change types come after the LAST `:`, because resource paths may
 * contain `:` themselves (Teams channel ids such as `19:abc@thread.tacv2`, OData keys, `$filter` values).
 *
 * Options follow the change types after `;`: `users/8a1d…/messages:created;includeResourceData` asks Graph to
 * include the resource, encrypted, in each notification (rich notifications). Options are read case-insensitively
 * and always written in their canonical spelling.
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
}

/** The options a declaration may carry after `;`, in their canonical spelling. */
export const DECLARATION_OPTIONS = ['includeResourceData'] as const;

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
  const unknownOptions = options.filter((option) => option.toLowerCase() !== 'includeresourcedata');
  if (unknownOptions.length > 0) {
    throw new InvalidDeclarationError(
      text,
      `unknown option${unknownOptions.length > 1 ? 's' : ''} ${unknownOptions.map((o) => JSON.stringify(o)).join(', ')}: the only option is ${DECLARATION_OPTIONS.join(', ')}`,
    );
  }
  const includeResourceData = options.length > 0;
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
  const changeTypes = CHANGE_TYPES.filter((type) => requested.includes(type));
  return includeResourceData ? { resource, changeTypes, includeResourceData } : { resource, changeTypes };
}

/** The human-readable form, as stored on the connection item. */
export function formatDeclaration(declaration: Declaration): string {
  const types = CHANGE_TYPES.filter((type) => declaration.changeTypes.includes(type)).join(',');
  return `${declaration.resource}:${types}${declaration.includeResourceData === true ? ';includeResourceData' : ''}`;
}

/**
 * The canonical string of a declaration, for set comparison: two declarations (or a declaration and a subscription
 * record) with the same key ask Graph for the same subscription. The resource is compared as written, except for
 * a leading `/`. includeResourceData is part of the key: switching it means another subscription.
 */
export function declarationKey(declaration: Declaration): string {
  return formatDeclaration({ ...declaration, resource: declaration.resource.replace(/^\/+/, '') });
}

/**
 * Parses a connection's declarations one by one: an invalid one is reported and skipped, never fatal to the rest.
 * Duplicates (same key) are kept once.
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
      byKey.set(declarationKey(declaration), declaration);
    } catch (error) {
      if (!(error instanceof InvalidDeclarationError)) throw error;
      invalid.push({ declaration: text, reason: error.message });
    }
  }
  return { declarations: [...byKey.values()], invalid };
}
