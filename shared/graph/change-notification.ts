import * as z from 'zod';

/**
 * A changeNotification as Graph delivers it. The documented examples carry placeholders such as
 * `{subscription_guid}` where GUIDs go, so identifiers are non-empty strings, not strict GUIDs.
 * Unknown fields are kept: they are forwarded to consumers untouched. `tenantId` is the notification's tenant as
 * resolved by `parseNotificationItem` (Graph sometimes sends `organizationId` instead, or neither).
 */
export const changeNotificationSchema = z
  .object({
    subscriptionId: z.string().min(1, 'subscriptionId is required'),
    tenantId: z.string().min(1, 'tenantId (or organizationId) is required'),
    organizationId: z.string().optional(),
    subscriptionExpirationDateTime: z.string().optional(),
    changeType: z.enum(['created', 'updated', 'deleted']).optional(),
    lifecycleEvent: z.enum(['reauthorizationRequired', 'subscriptionRemoved', 'missed']).optional(),
    resource: z.string().optional(),
    resourceData: z.record(z.string(), z.unknown()).optional(),
    clientState: z.string().max(1024).optional(),
    id: z.string().optional(),
    encryptedContent: z.record(z.string(), z.unknown()).optional(),
  })
  .loose()
  .refine((n) => (n.changeType === undefined) !== (n.lifecycleEvent === undefined), {
    message: 'exactly one of changeType and lifecycleEvent is required',
  });

export type ChangeNotification = z.infer<typeof changeNotificationSchema>;

/** The collection is checked loosely first so one bad item is refused alone, not the whole POST. */
export const changeNotificationCollectionSchema = z
  .object({
    value: z.array(z.unknown(), { error: 'value must be an array of notifications' }),
    validationTokens: z.array(z.string()).nullish(),
  })
  .loose();

export type NotificationKind = 'change' | 'lifecycle';

export function kindOf(notification: ChangeNotification): NotificationKind {
  return notification.lifecycleEvent === undefined ? 'change' : 'lifecycle';
}

export interface RefusedItem {
  index: number;
  reason: string;
}

export interface ParsedCollection {
  notifications: { index: number; notification: ChangeNotification }[];
  refused: RefusedItem[];
  validationTokens: string[];
}

export class InvalidNotificationBodyError extends Error {
  override readonly name = 'InvalidNotificationBodyError';
}

/**
 * How deep a notification may nest (the item itself is level 1). Graph's are a few levels deep; a deeper item is
 * refused alone, so that hashing or serialising it can never overflow the stack (a 5xx Graph would retry for hours).
 */
export const MAX_NOTIFICATION_DEPTH = 64;

/** Whether arrays and objects in `value` nest deeper than `max` levels; iterative, so any depth is safe to check. */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const pending: { value: unknown; depth: number }[] = [{ value, depth: 1 }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (next.value === null || typeof next.value !== 'object') continue;
    if (next.depth > max) return true;
    for (const child of Object.values(next.value)) {
      if (child !== null && typeof child === 'object') pending.push({ value: child, depth: next.depth + 1 });
    }
  }
  return false;
}

/** A webhook body checked as a collection only: its items are not looked at until their clientState is verified. */
export interface NotificationEnvelope {
  items: unknown[];
  validationTokens: string[];
}

/** Parses a webhook body as a collection (`value` an array); throws for a body that is not one. Items are left unread. */
export function parseNotificationEnvelope(body: string): NotificationEnvelope {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new InvalidNotificationBodyError('body is not valid JSON');
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new InvalidNotificationBodyError('body must be a JSON object with a "value" array');
  }
  const collection = changeNotificationCollectionSchema.safeParse(json);
  if (!collection.success) {
    throw new InvalidNotificationBodyError(describeIssues(collection.error));
  }
  return { items: collection.data.value, validationTokens: collection.data.validationTokens ?? [] };
}

/** An item's clientState, read without parsing the item: what verification needs first. */
export function clientStateOf(item: unknown): string | undefined {
  const value = fieldOf(item, 'clientState');
  return typeof value === 'string' ? value : undefined;
}

/** The tenant an item names, `tenantId` or else `organizationId` (as Graph sends some lifecycle notifications), read without parsing it. */
export function claimedTenantOf(item: unknown): string | undefined {
  for (const name of ['tenantId', 'organizationId']) {
    const value = fieldOf(item, name);
    if (typeof value === 'string' && value.length > 0) return value;
  }
  return undefined;
}

/** The item's subscriptionId, read without parsing it. */
export function subscriptionIdOf(item: unknown): string | undefined {
  const value = fieldOf(item, 'subscriptionId');
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function fieldOf(item: unknown, name: string): unknown {
  if (item === null || typeof item !== 'object' || Array.isArray(item) || !Object.hasOwn(item, name)) return undefined;
  return (item as Record<string, unknown>)[name];
}

/**
 * One item as a notification, or the reason it is refused. Explicit `null`s at the top level are absent fields
 * (Graph sends `"sequence": null`, `"encryptedContent": null` in some lifecycle notifications). The tenant is
 * `tenantId`, else `organizationId`, else `tenantFallback` (the tenant the clientState or the subscription's record
 * vouches for); it is set as `tenantId`, so every consumer finds it in one place, and `organizationId` stays as sent.
 */
export function parseNotificationItem(item: unknown, tenantFallback?: string): { notification: ChangeNotification } | { reason: string } {
  // Checked before anything walks the item: the idempotency key and the event serialisation recurse into it.
  if (nestedDeeperThan(item, MAX_NOTIFICATION_DEPTH)) return { reason: `nested deeper than ${MAX_NOTIFICATION_DEPTH} levels` };
  let candidate = item;
  if (item !== null && typeof item === 'object' && !Array.isArray(item)) {
    const fields: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(item)) if (value !== null) fields[name] = value;
    if (typeof fields['tenantId'] !== 'string' || fields['tenantId'] === '') {
      const tenant = claimedTenantOf(fields) ?? tenantFallback;
      if (tenant !== undefined) fields['tenantId'] = tenant;
    }
    candidate = fields;
  }
  const parsed = changeNotificationSchema.safeParse(candidate);
  return parsed.success ? { notification: parsed.data } : { reason: describeIssues(parsed.error) };
}

/**
 * Parses a whole webhook body, every item, with no verification: for tools and tests. The intake parses the envelope
 * and then only the items whose clientState verified.
 */
export function parseNotificationBody(body: string): ParsedCollection {
  const { items, validationTokens } = parseNotificationEnvelope(body);
  const notifications: ParsedCollection['notifications'] = [];
  const refused: RefusedItem[] = [];
  items.forEach((item, index) => {
    const parsed = parseNotificationItem(item);
    if ('notification' in parsed) notifications.push({ index, notification: parsed.notification });
    else refused.push({ index, reason: parsed.reason });
  });
  return { notifications, refused, validationTokens };
}

/** One line naming each failing field; never echoes values (they may hold a clientState). */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message))
    .join('; ');
}
