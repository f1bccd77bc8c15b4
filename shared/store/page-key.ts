import * as z from 'zod';
import { StoreDataError } from './store-data-error';

/**
 * Where a paged Query of the connections table goes on: DynamoDB's LastEvaluatedKey, which for the base table is
 * the primary key of the last item read. Callers pass it back as `startKey` to read the next page.
 */
export interface PageKey {
  pk: string;
  sk: string;
}

export const pageKeySchema = z.strictObject({ pk: z.string().min(1), sk: z.string().min(1) });

/** Undefined on the last page. */
export function pageKeyOf(lastEvaluatedKey: Record<string, unknown> | undefined): PageKey | undefined {
  if (lastEvaluatedKey === undefined) return undefined;
  const parsed = pageKeySchema.safeParse(lastEvaluatedKey);
  if (!parsed.success) throw new StoreDataError(`unexpected LastEvaluatedKey ${JSON.stringify(lastEvaluatedKey)}: expected { pk, sk }`);
  return parsed.data;
}
