/**
 * The connections table's sparse global secondary index of subscriptions by connection. Only subscription items
 * carry its partition key, so the index holds nothing else, and one connection's subscriptions are one Query
 * however many connections its integration has. Deployed by `infra/constructs/connections-table.ts`, created
 * locally by `local/tables.ts`.
 */
export const CONNECTION_INDEX = {
  indexName: 'ByConnection',
  /** `<integrationId>#<connectionId>`: derived from the item's ids by connectionKeyOf, never written by hand. */
  partitionKey: 'connectionKey',
  /** The base table's sort key, `SUBSCRIPTION#<subscriptionId>`. */
  sortKey: 'sk',
} as const;

/** An integration id never contains `#` (items.ts), so the key names exactly one connection and stays readable. */
export function connectionKeyOf(integrationId: string, connectionId: string): string {
  return `${integrationId}#${connectionId}`;
}
