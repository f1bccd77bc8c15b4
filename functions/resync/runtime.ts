import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { loadResyncConfig, RESYNC_DEFAULTS } from '../../shared/config/resync-config';
import type { EventEntry } from '../../shared/events/contract';
import { lazyPayloadStore } from '../../shared/events/payload-store';
import { EventBridgePublisher } from '../../shared/events/publisher';
import type { ResyncedEventEntry } from '../../shared/events/subscription-events';
import { loadGraphConfig } from '../../shared/graph/graph-config';
import { sweepPeriodicResyncs, type PeriodicSweepReport } from '../../shared/resync/periodic';
import type { ResyncRequests } from '../../shared/resync/resync-job';
import type { ResyncPorts, ResyncResult } from '../../shared/resync/run-resync';
import { SqsResyncRequests } from '../../shared/resync/sqs-resync-requests';
import { handOffResyncMessages } from '../../shared/leadership/handoffs';
import { errorStack } from '../../shared/util/errors';
import { IntegrationSecretCache } from '../../shared/secrets/integration-secret-cache';
import { DynamoDbConnectionsStore } from '../../shared/store/dynamodb-connections-store';
import { DynamoDbResyncStateStore } from '../../shared/store/resync-checkpoints';
import { DynamoDbSubscriptionsStore } from '../../shared/store/subscriptions-store';
import { IntegrationGraphs } from '../../shared/subscriptions/integration-graphs';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { handleResyncMessage } from '../../shared/resync/resync-message';
import { AWS_REQUEST_HANDLER, createWriterGating, type WriterGating } from '../commons/subscription-clients';

/** Counted as `Resync<Metric>` in namespace GraphRelay, service resync. */
export type ResyncMetric = 'PeriodicRequested' | 'Runs' | 'Completed' | 'Continued' | 'Throttled' | 'Busy' | 'Skipped' | 'Failed' | 'Invalid' | 'ObjectsPublished';

export interface ResyncRuntime {
  ports: ResyncPorts;
  /** Its own queue: continuations and busy jobs. */
  requests: ResyncRequests;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  metrics: { count(metric: ResyncMetric, value?: number): void; record(result: ResyncResult): void; flush(): void };
  /** The safety net's sweep (scheduled); absent when RESYNC_EVERY_HOURS is 0. */
  sweep?: (deadline: number) => Promise<PeriodicSweepReport>;
  /**
   * The writer lease's gate, and the hand-off store a region not holding it keeps the queue's jobs in for the
   * writer. Absent: single-region, always the writer.
   */
  writer?: Pick<WriterGating, 'gate' | 'region' | 'handoffs'>;
}

/** What the handler reads of the Lambda context; the local stack passes its own. */
export type ResyncContext = Pick<Context, 'getRemainingTimeInMillis'>;

/** The safety net: asks for a `periodic` catch-up of every `;resync` declaration not caught up within the interval. */
export async function runPeriodicSweep(runtime: ResyncRuntime, context: ResyncContext): Promise<PeriodicSweepReport | { sweep: 'off' }> {
  const { sweep, logger, metrics } = runtime;
  if (sweep === undefined) return { sweep: 'off' };
  try {
    const report = await sweep(deadlineOf(runtime, context));
    metrics.count('PeriodicRequested', report.requested);
    logger.info('periodic resync sweep', { ...report });
    return report;
  } finally {
    metrics.flush();
  }
}

function deadlineOf(runtime: ResyncRuntime, context: ResyncContext): number {
  return runtime.ports.clock.now() + context.getRemainingTimeInMillis() - RESYNC_DEFAULTS.deadlineMarginMs;
}

export async function runResyncBatch(runtime: ResyncRuntime, event: SQSEvent, context: ResyncContext): Promise<SQSBatchResponse> {
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  try {
    for (const record of event.Records) {
      if (!(await handleResyncMessage(runtime, record.body, deadlineOf(runtime, context)))) batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  } finally {
    runtime.metrics.flush();
  }
  return { batchItemFailures };
}

/** A batch of the queue at a region not holding the writer lease: each job stored for the writer, none run here. */
export async function handOffResyncBatch(runtime: ResyncRuntime, event: SQSEvent): Promise<SQSBatchResponse & { handedOff: number }> {
  const { writer, logger } = runtime;
  if (writer?.handoffs === undefined) throw new Error('no hand-off store: the writer lease is off');
  const failed = await handOffResyncMessages(writer.handoffs, event.Records, writer.region, (messageId, error) =>
    logger.error('resync job not handed off: SQS delivers it again', { messageId, error: errorStack(error) }),
  );
  return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })), handedOff: event.Records.length - failed.length };
}

/** Built once per execution environment: a warm invocation reuses the secret cache and the tenants' tokens. */
export function createResyncRuntime(): ResyncRuntime {
  const config = loadResyncConfig();
  const graphConfig = loadGraphConfig();
  const logger = new Logger({ serviceName: 'graph-relay-resync' });
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ requestHandler: AWS_REQUEST_HANDLER }), { marshallOptions: { removeUndefinedValues: true } });
  const secrets = new IntegrationSecretCache({
    client: new SecretsManagerClient({ requestHandler: AWS_REQUEST_HANDLER }),
    prefix: config.webhookSecretPrefix,
    maxAgeSeconds: config.secretMaxAgeSeconds,
  });
  const writer = createWriterGating(doc, config.connectionsTable, graphConfig);
  const graphs = new IntegrationGraphs({ config: graphConfig, readSecret: (id) => secrets.document(id), logger, ...(writer.fetch === undefined ? {} : { fetch: writer.fetch }) });
  const bus = new EventBridgeClient({ requestHandler: AWS_REQUEST_HANDLER });
  const publish = { maxAttempts: RESYNC_DEFAULTS.publishMaxAttempts, concurrency: RESYNC_DEFAULTS.publishConcurrency };
  const { payloadBucket } = config;
  const connections = new DynamoDbConnectionsStore(doc, config.connectionsTable);
  const ports: ResyncPorts = {
    subscriptions: new DynamoDbSubscriptionsStore(doc, config.connectionsTable),
    connections,
    states: new DynamoDbResyncStateStore(doc, config.connectionsTable),
    graphFor: (id) => graphs.graphClientFor(id),
    publisher: new EventBridgePublisher<EventEntry>(bus, config.eventBusName, publish),
    summaries: new EventBridgePublisher<ResyncedEventEntry>(bus, config.eventBusName, publish),
    payloads:
      payloadBucket === undefined
        ? undefined
        : lazyPayloadStore(payloadBucket, async () => {
            const { S3PayloadStore } = await import('../../shared/events/s3-payload-store');
            return S3PayloadStore.create(payloadBucket, { requestHandler: AWS_REQUEST_HANDLER });
          }),
    eventSource: config.eventSource,
    logger,
    clock: { now: () => Date.now() },
  };
  const requests = new SqsResyncRequests(new SQSClient({ requestHandler: AWS_REQUEST_HANDLER }), config.queueUrl);
  const everyMs = config.everyHours * 3_600_000;
  const sweep =
    everyMs === 0
      ? undefined
      : (deadline: number) =>
          sweepPeriodicResyncs({ connections, states: ports.states, requests, logger }, { now: Date.now(), everyMs, deadline, clock: ports.clock });
  const metrics = new Metrics({ namespace: 'GraphRelay', serviceName: 'resync' });
  const count = (metric: ResyncMetric, value = 1) => metrics.addMetric(`Resync${metric}`, MetricUnit.Count, value);
  return {
    ports,
    requests,
    ...(sweep === undefined ? {} : { sweep }),
    writer,
    logger,
    metrics: {
      count,
      record(result) {
        count('Runs');
        const name = ({ completed: 'Completed', continued: 'Continued', throttled: 'Throttled', busy: 'Busy', skipped: 'Skipped', failed: 'Failed' } as const)[result.outcome];
        count(name);
        if ('changed' in result) count('ObjectsPublished', (result.changed ?? 0) + (result.deleted ?? 0));
      },
      flush: () => metrics.publishStoredMetrics(),
    },
  };
}
