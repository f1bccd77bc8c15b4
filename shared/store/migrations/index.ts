/**
 * Every backfill a newer graph-relay needs of a connections table written by an older one, in order. Each is
 * idempotent and pages through the table, so running them again (every deploy, `graph-relay migrate`) only costs
 * the reads. The stack runs them during `cdk deploy`, before the functions that need them change
 * (infra/constructs/table-migration.ts); the CLI runs them on demand.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { backfillSubscriptionConnectionKeys, type BackfillProgress } from './subscription-connection-keys';
import { backfillRoutes, type RouteBackfillProgress, type RouteBackfillReport } from './tenant-routes';

/** Bump when a migration is added: the stack's migration runs again on the next deploy. */
export const TABLE_MIGRATIONS_VERSION = 1;

export interface TableMigrationReport {
  /** Tenant route items (the intake's routes by key) built from the connection items. */
  routes: RouteBackfillReport;
  /** Subscription items filed under their connection (the reconciler's reads by key). */
  subscriptionKeys: BackfillProgress;
  dryRun: boolean;
}

export interface TableMigrationOptions {
  dryRun: boolean;
  /** Routes of this integration only (subscription keys are filed for every integration: cheap when done). */
  integrationId?: string;
  onProgress?: (progress: { step: 'routes'; routes: RouteBackfillProgress } | { step: 'subscription-keys'; subscriptionKeys: BackfillProgress }) => void;
}

export async function migrateTable(client: DynamoDBDocumentClient, tableName: string, options: TableMigrationOptions): Promise<TableMigrationReport> {
  const { dryRun, onProgress } = options;
  // Subscription keys first: the reconciler must find every recorded subscription by connection before anything
  // may plan creates from what it finds.
  const subscriptionKeys = await backfillSubscriptionConnectionKeys(client, tableName, {
    dryRun,
    ...(onProgress === undefined ? {} : { onProgress: (p: BackfillProgress) => onProgress({ step: 'subscription-keys', subscriptionKeys: p }) }),
  });
  const routes = await backfillRoutes(client, tableName, {
    dryRun,
    ...(options.integrationId === undefined ? {} : { integrationId: options.integrationId }),
    ...(onProgress === undefined ? {} : { onProgress: (p: RouteBackfillProgress) => onProgress({ step: 'routes', routes: p }) }),
  });
  return { routes, subscriptionKeys, dryRun };
}
