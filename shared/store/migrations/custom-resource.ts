import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import type { TableMigrationReport } from '.';

export interface MigrationPorts {
  migrate(): Promise<TableMigrationReport>;
  log(line: string): void;
}

export interface MigrationAnswer {
  status: 'SUCCESS' | 'FAILED';
  reason?: string;
  data?: Record<string, number>;
}

/** One id for the life of the stack: the migration is never replaced, only run again. */
export const MIGRATION_PHYSICAL_ID = 'graph-relay-table-migration';

/**
 * Create and update run the migrations; a failure fails the deployment, so CloudFormation rolls back to the
 * functions that still work with the table as it is. Delete does nothing: the items stay valid.
 */
export async function runTableMigration(event: CloudFormationCustomResourceEvent, ports: MigrationPorts): Promise<MigrationAnswer> {
  if (event.RequestType === 'Delete') return { status: 'SUCCESS' };
  try {
    const report = await ports.migrate();
    const data = {
      subscriptionsScanned: report.subscriptionKeys.scanned,
      subscriptionsFiled: report.subscriptionKeys.updated,
      connectionsScanned: report.routes.connectionsScanned,
      routesAdded: report.routes.added,
      routesRemoved: report.routes.removed,
    };
    ports.log(JSON.stringify({ level: 'INFO', message: 'table migrated', ...data }));
    return { status: 'SUCCESS', data };
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    ports.log(JSON.stringify({ level: 'ERROR', message: 'table migration failed', error: reason }));
    return { status: 'FAILED', reason: `table migration failed: ${reason}`.slice(0, 1000) };
  }
}

/** CloudFormation waits for this PUT to the pre-signed response URL (its custom resource protocol). */
export async function answerCustomResource(event: CloudFormationCustomResourceEvent, answer: MigrationAnswer & { logStreamName: string }): Promise<void> {
  const body = JSON.stringify({
    Status: answer.status,
    Reason: answer.reason ?? `see CloudWatch log stream ${answer.logStreamName}`,
    PhysicalResourceId: MIGRATION_PHYSICAL_ID,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    ...(answer.data === undefined ? {} : { Data: answer.data }),
  });
  const response = await fetch(event.ResponseURL, {
    method: 'PUT',
    // The pre-signed URL was signed with an empty content type.
    headers: { 'content-type': '', 'content-length': String(Buffer.byteLength(body)) },
    body,
    redirect: 'error',
    signal: AbortSignal.timeout(10_000),
  });
  if (!response.ok) throw new Error(`CloudFormation's response URL answered ${response.status}`);
}
