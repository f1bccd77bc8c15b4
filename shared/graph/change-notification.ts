import * as z from 'zod';

/**
 * A changeNotification as Graph delivers it. The documented examples carry placeholders such as
 * `{subscription_guid}` where GUIDs go, so identifiers are non-empty strings, not strict GUIDs.
 * Unknown fields are kept: they are forwarded to consumers untouched.
 */
export const changeNotificationSchema = z
  .object({
    subscriptionId: z.string().min(1, 'subscriptionId is required'),
    tenantId: z.string().min(1, 'tenantId is required'),
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
    validationTokens: z.array(z.string()).optional(),
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

/** Parses a webhook body into notifications and refused items; throws for a body that is not a collection. */
export function parseNotificationBody(body: string): ParsedCollection {
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
  const notifications: ParsedCollection['notifications'] = [];
  const refused: RefusedItem[] = [];
  collection.data.value.forEach((item, index) => {
    // Checked before anything walks the item: the idempotency key and the event serialisation recurse into it.
    if (nestedDeeperThan(item, MAX_NOTIFICATION_DEPTH)) {
      refused.push({ index, reason: `nested deeper than ${MAX_NOTIFICATION_DEPTH} levels` });
      return;
    }
    const parsed = changeNotificationSchema.safeParse(item);
    if (parsed.success) notifications.push({ index, notification: parsed.data });
    else refused.push({ index, reason: describeIssues(parsed.error) });
  });
  return { notifications, refused, validationTokens: collection.data.validationTokens ?? [] };
}

/** One line naming each failing field; never echoes values (they may hold a clientState). */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message))
    .join('; ');
}
