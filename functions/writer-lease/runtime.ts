import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbHandoffStore, DynamoDbWriterLeaseStore } from '../../shared/leadership/dynamodb-leadership-store';
import { loadHeartbeatConfig, type HeartbeatPorts, type HeartbeatReport } from '../../shared/leadership/heartbeat';
import { loadWriterLeaseConfig, WriterLease } from '../../shared/leadership/writer-lease';
import { addCounts } from '../commons/run-metrics';
import { AWS_REQUEST_HANDLER } from '../commons/subscription-clients';

export interface WriterLeaseRuntime {
  /** Absent when WRITER_LEASE is off: a heartbeat then does nothing. */
  ports?: HeartbeatPorts;
  logger: Logger;
  metrics: { record(report: HeartbeatReport): void; flush(): void };
}

/** What the catch-up runs are invoked with: the functions treat it as their schedule's event. */
export const TAKEOVER_EVENT = { source: 'graph-relay.writer-lease', 'detail-type': 'Writer Lease Takeover' } as const;

/**
 * Built once per execution environment from CONNECTIONS_TABLE_NAME (the hand-offs), the lease's variables
 * (WRITER_LEASE, RELAY_REGION or AWS_REGION, WRITER_LEASE_TABLE_NAME, WRITER_LEASE_TTL_SECONDS,
 * WRITER_LEASE_GRACE_SECONDS), the functions it invokes (RENEWAL_FUNCTION_NAME, RECONCILE_FUNCTION_NAME,
 * LIFECYCLE_FUNCTION_NAME) and RESYNC_QUEUE_URL (optional: resync hand-offs wait without it).
 */
export function createWriterLeaseRuntime(env: NodeJS.ProcessEnv = process.env): WriterLeaseRuntime {
  const logger = new Logger({ serviceName: 'graph-relay-writer-lease' });
  const metrics = new Metrics({ namespace: 'GraphRelay', serviceName: 'writer-lease' });
  const recorder: WriterLeaseRuntime['metrics'] = {
    record(report) {
      metrics.addMetric('WriterLeaseHeld', MetricUnit.Count, report.outcome === 'held-by-other' ? 0 : 1);
      addCounts(metrics, {
        WriterLeaseAcquired: report.outcome === 'acquired' ? 1 : 0,
        HandoffsDelivered: report.handoffs.delivered,
        HandoffsFailed: report.handoffs.failed,
        WriterLeaseCatchUpsNotStarted: report.catchUp?.failed.length ?? 0,
      });
    },
    flush: () => metrics.publishStoredMetrics(),
  };
  const lease = loadWriterLeaseConfig(env);
  if (!lease.enabled) return { logger, metrics: recorder };
  const config = loadHeartbeatConfig(env);
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ requestHandler: AWS_REQUEST_HANDLER }), { marshallOptions: { removeUndefinedValues: true } });
  const lambda = new LambdaClient({ requestHandler: AWS_REQUEST_HANDLER });
  const invoke = async (functionName: string, payload: unknown) => {
    await lambda.send(new InvokeCommand({ FunctionName: functionName, InvocationType: 'Event', Payload: new TextEncoder().encode(JSON.stringify(payload)) }));
  };
  const { resyncQueueUrl } = config;
  const sqs = resyncQueueUrl === undefined ? undefined : new SQSClient({ requestHandler: AWS_REQUEST_HANDLER });
  const ports: HeartbeatPorts = {
    lease: new WriterLease(new DynamoDbWriterLeaseStore(doc, lease.leaseTable ?? config.connectionsTable), lease),
    region: lease.region,
    handoffs: new DynamoDbHandoffStore(doc, config.connectionsTable),
    catchUp: {
      renewal: () => invoke(config.renewalFunctionName, TAKEOVER_EVENT),
      reconcile: () => invoke(config.reconcileFunctionName, TAKEOVER_EVENT),
    },
    deliver: {
      lifecycle: (event) => invoke(config.lifecycleFunctionName, event),
      ...(sqs === undefined || resyncQueueUrl === undefined
        ? {}
        : { resync: async (body: string) => void (await sqs.send(new SendMessageCommand({ QueueUrl: resyncQueueUrl, MessageBody: body }))) }),
    },
    logger,
    clock: { now: () => Date.now() },
  };
  return { ports, logger, metrics: recorder };
}
