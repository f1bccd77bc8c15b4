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
