/**
 * The connections table's sparse global secondary index of subscriptions to renew. Only `active` subscription
 * items carry its key attributes, so the index holds exactly what renewal has to look at. Deployed by
 * `infra/constructs/connections-table.ts`, created locally by `local/tables.ts`.
 */
export const RENEWAL_INDEX = {
  indexName: 'ByRenewalDue',
  /** `RENEWAL#<n>`: see shared/subscriptions/renewal-policy.ts. */
  partitionKey: 'renewalShard',
  /** ISO timestamp when renewal is due. */
  sortKey: 'renewAt',
} as const;
