import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateEventBusCommand, EventBridgeClient, ResourceAlreadyExistsException } from '@aws-sdk/client-eventbridge';
import { BucketAlreadyOwnedByYou, CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { ReconcileSummary } from '../shared/subscriptions/reconcile';
import { ENV, GRAPH_ENV, PAYLOAD_BUCKET_ENV } from '../shared/config/env-names';
import { loadReconcileConfig } from '../shared/config/reconcile-config';
import { loadRenewalConfig } from '../shared/config/renewal-config';
import { loadGraphConfig } from '../shared/graph/graph-config';
import type { RenewalReport } from '../shared/subscriptions/renew-due';
import { startAwsEmulator, type AwsEmulator } from './aws-emulator';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { migrateTable } from '../shared/store/migrations';
import { ROUTE_INDEX_STREAM } from '../shared/routing/route-index';
import { startConnectionsStream, type ConnectionsStream, type ConnectionsStreamOptions } from './connections-stream';
import { LOCAL_CREDENTIALS, removeLocalStackDescriptor, writeLocalStackDescriptor, type LocalStackDescriptor } from './descriptor';
import { startDynamoDbLocal, type DynamoDbLocal } from './dynamodb-local';
import { serveHttpApi } from './http-adapter';
import { startLocalLifecycle, type LocalLifecycle } from './lifecycle-listener';
import { ensureQueueWithDeadLetterQueue, type EnsuredQueues } from './queues';
import { startSqsEventSource, type SqsEventSource } from './sqs-event-source';
import { publicWebhookBaseUrl, startLocalRenewalSchedule, type LocalRenewalSchedule } from './renewal-schedule';
import { ensurePrivateDir } from './private-files';
import { ensureLeaseTable, ensureTables } from './tables';
import type { HeartbeatReport } from '../shared/leadership/heartbeat';
import type { NotWriter } from '../shared/leadership/writer-gate';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { isNotWriter, NotWriterError, startLocalWriterLease, writerLeaseEnv, type LocalWriterLeaseSettings } from './writer-lease';

export const LOCAL_NAMES = {
  region: 'us-east-1',
  connectionsTable: 'graph-relay-local-connections',
  deliveriesTable: 'graph-relay-local-deliveries',
  eventBusName: 'graph-relay-local',
  eventSource: 'graph-relay',
  webhookSecretPrefix: 'graph-relay/local/integrations/',
  payloadBucket: 'graph-relay-local-payloads',
  resyncQueue: 'graph-relay-local-resync',
} as const;

export interface LocalStackOptions {
  dataDir: string;
  /** 0 picks a free port. */
  port: number;
  host?: string;
  /** Use an already running DynamoDB (tests share one); otherwise DynamoDB Local is started with data in the data dir. */
  dynamodbEndpoint?: string;
  /**
   * The region this stack reports and runs as (RELAY_REGION, AWS_REGION); default us-east-1. Two stacks of different
   * regions over one DynamoDB Local's connections table stand for the two regions of a multi-region stage.
   */
  region?: string;
  /**
   * The Graph writer lease on (shared/leadership/): the heartbeat runs in process on its interval, and renewal,
   * reconcile, lifecycle and resync act only while this region holds the lease. Absent: off, one region.
   */
  writerLease?: LocalWriterLeaseSettings;
  /** Table names; tests pass unique ones to share one DynamoDB Local. */
  names?: Partial<Record<'connectionsTable' | 'deliveriesTable' | 'eventBusName' | 'webhookSecretPrefix' | 'payloadBucket' | 'resyncQueue', string>>;
  /** Where the product code's configuration goes; the process environment by default. */
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
  renewal?: {
    /** Seconds between scheduled runs; 0 (the default) runs only through `renewal.runNow()`. */
    intervalSeconds?: number;
    /** Base of the notificationUrl Graph is given (e.g. a tunnel); default the listening URL. */
    publicUrl?: string;
  };
  /** Graph and login base URLs, e.g. a local Graph fake; default the environment's, else Microsoft's. */
  graph?: { apiUrl?: string; loginUrl?: string };
  /** Hand `Graph Lifecycle Notification` events on the local bus to the lifecycle handler. Default true. */
  lifecycle?: boolean;
  /**
   * The resync queue (on the emulator) and its event source feeding the resync function, as deployed; lifecycle,
   * renewal and the reconciler ask on it. Default true.
   */
  resync?: boolean;
  /**
   * Hand the connections table's stream to the reconciler, as the deployed event source does. Default true; an
   * object tunes the polling (tests).
   */
  connectionsStream?: boolean | Pick<ConnectionsStreamOptions, 'pollIntervalMs' | 'maxIdleIntervalMs' | 'retryAttempts' | 'retryBaseDelayMs'>;
}

export interface LocalStack {
  url: string;
  descriptor: LocalStackDescriptor;
  emulator: AwsEmulator;
  /**
   * The renewal function, run in process on its interval or on demand. With the writer lease on, `runNow()` rejects
   * with NotWriterError while another region holds it.
   */
  renewal: LocalRenewalSchedule<RenewalReport>;
  /** The lifecycle function, run in process on matching bus events (when enabled). */
  lifecycle: LocalLifecycle;
  /** The resync function, fed by the resync queue (when enabled); `idle()` once the queue holds nothing. */
  resync: SqsEventSource | undefined;
  /**
   * The reconciler's full run, in process on the renewal interval or on demand. Connection changes also reach the
   * reconciler within about a second through `connectionsStream`; stream batches and full runs never overlap.
   */
  reconcile: LocalRenewalSchedule<ReconcileSummary>;
  /** The reconciler's stream event source: DynamoDB Local's stream of the connections table, polled (when enabled). */
  connectionsStream: ConnectionsStream | undefined;
  /** The route index's event source on the same stream (when enabled): tenant route items follow connection items. */
  routeIndexStream: ConnectionsStream | undefined;
  /** The writer lease's heartbeat, in process on its interval or on demand (when the lease is on). */
  writerLease: LocalRenewalSchedule<HeartbeatReport> | undefined;
  stop(): Promise<void>;
}

/** A local run gets as long as the deployed function (infra/constructs/renewal-schedule.ts, RENEWAL_TIMEOUT). */
const LOCAL_RENEWAL_BUDGET_MS = 5 * 60_000;
/** Likewise for the lifecycle function (infra/constructs/lifecycle-handler.ts, LIFECYCLE_TIMEOUT). */
const LOCAL_LIFECYCLE_BUDGET_MS = 60_000;
/**
 * The resync queue as deployed (infra/constructs/resync.ts: RESYNC_TIMEOUT 5 minutes, 10 receives before the
 * dead-letter queue), but a visibility timeout of a minute rather than 6 x the timeout, so a failed run comes back
 * soon enough to watch.
 */
const LOCAL_RESYNC = { budgetMs: 5 * 60_000, maxReceiveCount: 10, visibilityTimeoutSeconds: 60 } as const;
const RESYNC_SWEEP_INTERVAL_MS = 60 * 60_000;

/**
 * The local stack: DynamoDB Local, the EventBridge/Secrets Manager/S3 emulator, and the intake handler served over
 * HTTP through an API Gateway v2 event adapter. The product code runs unmodified; only endpoints differ.
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const env = options.env ?? process.env;
  const names: Record<keyof typeof LOCAL_NAMES, string> = { ...LOCAL_NAMES, ...options.names, ...(options.region === undefined ? {} : { region: options.region }) };
  const host = options.host ?? '127.0.0.1';
  // Owner only, an existing directory narrowed too: it holds secrets, private keys and table data.
  ensurePrivateDir(options.dataDir);

  const started: { stop(): Promise<void> }[] = [];
  const stopAll = async () => {
    for (const part of started.reverse()) await part.stop().catch(() => undefined);
    started.length = 0;
  };
  try {
    let dynamodb: DynamoDbLocal | undefined;
    if (options.dynamodbEndpoint === undefined) {
      const dbPath = join(options.dataDir, 'dynamodb');
      ensurePrivateDir(dbPath);
      dynamodb = await startDynamoDbLocal({ dbPath });
      started.push(dynamodb);
    }
    const dynamodbEndpoint = options.dynamodbEndpoint ?? (dynamodb as DynamoDbLocal).endpoint;
    const emulator = await startAwsEmulator({ dataDir: options.dataDir, region: names.region });
    started.push({ stop: () => emulator.close() });

    Object.assign(env, {
      AWS_REGION: names.region,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: dynamodbEndpoint,
      AWS_ENDPOINT_URL_EVENTBRIDGE: emulator.url,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: emulator.url,
      // The emulator's URL is an IP address, so S3 clients address it path-style without being told.
      AWS_ENDPOINT_URL_S3: emulator.url,
      AWS_ENDPOINT_URL_SQS: emulator.url,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      POWERTOOLS_METRICS_DISABLED: env['POWERTOOLS_METRICS_DISABLED'] ?? 'true',
      [ENV.connectionsTable]: names.connectionsTable,
      [ENV.deliveriesTable]: names.deliveriesTable,
      [ENV.eventBus]: names.eventBusName,
      [ENV.eventSource]: names.eventSource,
      [ENV.webhookSecretPrefix]: names.webhookSecretPrefix,
      [PAYLOAD_BUCKET_ENV]: names.payloadBucket,
      ...(options.graph?.apiUrl === undefined ? {} : { [GRAPH_ENV.apiUrl]: options.graph.apiUrl }),
      ...(options.graph?.loginUrl === undefined ? {} : { [GRAPH_ENV.loginUrl]: options.graph.loginUrl }),
      ...writerLeaseEnv(names.region, options.writerLease),
    });
    // Locally the lease lives in the connections table (the global table's stand-in) unless it is given its own.
    if (options.writerLease?.table === undefined) delete env[ENV.writerLeaseTable];
    if (options.writerLease === undefined) {
      delete env[ENV.writerLeaseTtlSeconds];
      delete env[ENV.writerLeaseGraceSeconds];
    }

    const clientConfig = { region: names.region, credentials: LOCAL_CREDENTIALS };
    const ddb = new DynamoDBClient({ ...clientConfig, endpoint: dynamodbEndpoint });
    await ensureTables(ddb, names);
    if (options.writerLease?.table !== undefined) await ensureLeaseTable(ddb, options.writerLease.table);
    ddb.destroy();
    const events = new EventBridgeClient({ ...clientConfig, endpoint: emulator.url });
    await events.send(new CreateEventBusCommand({ Name: names.eventBusName })).catch((error: unknown) => {
      if (!(error instanceof ResourceAlreadyExistsException)) throw error;
    });
    events.destroy();
    const s3 = new S3Client({ ...clientConfig, endpoint: emulator.url, forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: names.payloadBucket })).catch((error: unknown) => {
      if (!(error instanceof BucketAlreadyOwnedByYou)) throw error;
    });
    s3.destroy();
    let resyncQueues: EnsuredQueues | undefined;
    if (options.resync !== false) {
      // Before any function's configuration is read: the senders find the queue in their environment.
      const sqs = new SQSClient({ ...clientConfig, endpoint: emulator.url });
      resyncQueues = await ensureQueueWithDeadLetterQueue(sqs, {
        queueName: names.resyncQueue,
        deadLetterQueueName: `${names.resyncQueue}-dlq`,
        maxReceiveCount: LOCAL_RESYNC.maxReceiveCount,
        visibilityTimeoutSeconds: LOCAL_RESYNC.visibilityTimeoutSeconds,
      });
      sqs.destroy();
      env[ENV.resyncQueueUrl] = resyncQueues.queueUrl;
    } else {
      delete env[ENV.resyncQueueUrl];
    }

    const { handler } = await import('../functions/intake/handler');
    const server = await serveHttpApi(handler, { port: options.port, host, log: options.log });
    started.push({
      stop: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        }),
    });
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : options.port;
    const url = `http://${host}:${port}`;
    const webhookBaseUrl = options.renewal?.publicUrl === undefined ? `${url}/webhook/` : publicWebhookBaseUrl(options.renewal.publicUrl);
    env[ENV.webhookBaseUrl] = webhookBaseUrl;

    const intervalSeconds = options.renewal?.intervalSeconds ?? 0;
    if (intervalSeconds > 0) {
      // Scheduled runs would fail on every tick: a bad GRAPH_API_URL, say, stops the start instead.
      loadRenewalConfig(env);
      loadReconcileConfig(env);
      loadGraphConfig(env);
    }
    const reportError = options.log ?? ((line: string) => console.error(line));
    const renewal = writerOnly('renewal', startLocalRenewalSchedule<RenewalReport | NotWriter>({
      intervalMs: intervalSeconds * 1000,
      log: (line) => reportError(line),
      run: async () => {
        const { handler: renew } = await import('../functions/renewal/handler');
        const report = await renew({ source: 'graph-relay.local', 'detail-type': 'Scheduled Event' }, { getRemainingTimeInMillis: () => LOCAL_RENEWAL_BUDGET_MS });
        if (isNotWriter(report)) return report;
        const { due, renewed, adopted, recreated, needsConsent, failed, deferred } = report;
        const taken = adopted > 0 ? `, ${adopted} renewed by the previous writer` : '';
        options.log?.(`renewal: ${due} due, ${renewed} renewed${taken}, ${recreated} recreated, ${needsConsent} need consent, ${failed} failed, ${deferred} deferred`);
        return report;
      },
    }));
    // Stopped before the server: a recreation in progress still needs the handshake answered.
    started.push({ stop: () => renewal.stop() });
    const lifecycle: LocalLifecycle =
      options.lifecycle === false
        ? { idle: async () => undefined, stop: async () => undefined }
        : startLocalLifecycle({
            emulator,
            eventBusName: names.eventBusName,
            eventSource: names.eventSource,
            log: (line) => options.log?.(line),
            logError: (line) => reportError(line),
            handle: async (event) => {
              const { handler: handleLifecycle } = await import('../functions/lifecycle/handler');
              return handleLifecycle(event, { getRemainingTimeInMillis: () => LOCAL_LIFECYCLE_BUDGET_MS });
            },
          });
    // Stopped before the server, like the renewal: a recreation in progress needs the handshake answered.
    started.push({ stop: () => lifecycle.stop() });
    let resync: SqsEventSource | undefined;
    if (resyncQueues !== undefined) {
      resync = await startSqsEventSource({
        endpoint: emulator.url,
        ...clientConfig,
        queueUrl: resyncQueues.queueUrl,
        label: 'resync',
        batchSize: 1,
        timeoutMs: LOCAL_RESYNC.budgetMs,
        log: (line) => options.log?.(line),
        logError: (line) => reportError(line),
        handler: async (event, context) => {
          const { handler: resyncHandler } = await import('../functions/resync/handler');
          return resyncHandler(event, context);
        },
      });
      const source = resync;
      started.push({ stop: () => source.stop() });
      // The safety net's sweep, hourly as deployed (infra/constructs/resync.ts), while the stack runs its schedules.
      if (intervalSeconds > 0) {
        const sweep = startLocalRenewalSchedule({
          intervalMs: RESYNC_SWEEP_INTERVAL_MS,
          label: 'resync safety net',
          log: (line) => reportError(line),
          run: async () => {
            const { handler: resyncHandler } = await import('../functions/resync/handler');
            const report = await resyncHandler({ 'detail-type': 'Scheduled Event' }, { getRemainingTimeInMillis: () => LOCAL_RESYNC.budgetMs });
            if ('requested' in report && report.requested > 0) options.log?.(`resync safety net: ${report.requested} catch-ups asked for`);
            return report;
          },
        });
        started.push({ stop: () => sweep.stop() });
      }
    }
    // The deployed reconciler has a reserved concurrency of 1: a stream batch waits for a full run, and vice versa.
    let reconcilerFree: Promise<unknown> = Promise.resolve();
    const oneReconcilerAtATime = <T>(run: () => Promise<T>): Promise<T> => {
      const next = reconcilerFree.then(run);
      reconcilerFree = next.catch(() => undefined);
      return next;
    };
    const reconcile = writerOnly('reconcile', startLocalRenewalSchedule<ReconcileSummary | NotWriter>({
      intervalMs: intervalSeconds * 1000,
      label: 'reconcile',
      log: (line) => reportError(line),
      run: () => oneReconcilerAtATime(async () => {
        const { handler: reconcileAll } = await import('../functions/reconcile/handler');
        const summary = await reconcileAll({ source: 'graph-relay.local', 'detail-type': 'Scheduled Event' }, { getRemainingTimeInMillis: () => LOCAL_RENEWAL_BUDGET_MS });
        if (isNotWriter(summary)) return summary;
        const { created, deleted, failed, deferred, invalidDeclarations } = summary;
        options.log?.(`reconcile: ${created} created, ${deleted} deleted, ${failed} failed, ${deferred} deferred, ${invalidDeclarations} invalid declarations`);
        return summary;
      }),
    }));
    started.push({ stop: () => reconcile.stop() });
    let connectionsStream: ConnectionsStream | undefined;
    let routeIndexStream: ConnectionsStream | undefined;
    if (options.connectionsStream !== false) {
      // A second reader of the stream, as deployed (infra/constructs/route-index.ts): it writes route items only,
      // never waits for the reconciler, and takes larger batches.
      routeIndexStream = await startConnectionsStream({
        retryAttempts: ROUTE_INDEX_STREAM.retryAttempts,
        ...(typeof options.connectionsStream === 'object' ? options.connectionsStream : {}),
        batchSize: ROUTE_INDEX_STREAM.batchSize,
        endpoint: dynamodbEndpoint,
        ...clientConfig,
        tableName: names.connectionsTable,
        log: (line) => options.log?.(line),
        logError: (line) => reportError(line),
        invoke: async (event) => {
          const { handler: indexRoutes } = await import('../functions/route-index/handler');
          return indexRoutes(event);
        },
      });
      const routeStream = routeIndexStream;
      started.push({ stop: () => routeStream.stop() });
      connectionsStream = await startConnectionsStream({
        ...(typeof options.connectionsStream === 'object' ? options.connectionsStream : {}),
        endpoint: dynamodbEndpoint,
        ...clientConfig,
        tableName: names.connectionsTable,
        log: (line) => options.log?.(line),
        logError: (line) => reportError(line),
        invoke: (event) =>
          oneReconcilerAtATime(async () => {
            const { handler: reconcileChanges } = await import('../functions/reconcile/handler');
            return reconcileChanges(event, { getRemainingTimeInMillis: () => LOCAL_RENEWAL_BUDGET_MS });
          }),
      });
      const stream = connectionsStream;
      // Stopped before the server, like the renewal: a create in progress needs the handshake answered.
      started.push({ stop: () => stream.stop() });
      // The stream starts at its end (LATEST, as deployed): changes made while the stack was down are caught by
      // one full run now, as the deployed schedule would on its next tick.
      if (intervalSeconds > 0) {
        void reconcile.runNow().catch((error: unknown) =>
          // A region without the writer lease skips it, by design: said as it is, not as a failure.
          error instanceof NotWriterError ? options.log?.(error.message) : reportError(`reconcile run failed: ${error instanceof Error ? error.message : String(error)}`),
        );
      }
      // Likewise the table migrations (as `cdk deploy` runs them): connection items written while the stack was
      // down get their route items now, and a data directory from an older version gets what this one needs.
      if (intervalSeconds > 0) {
        const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ ...clientConfig, endpoint: dynamodbEndpoint }));
        void migrateTable(documents, names.connectionsTable, { dryRun: false })
          .then(({ routes, subscriptionKeys }) => {
            if (routes.added + routes.removed + subscriptionKeys.updated > 0) {
              options.log?.(`migrate: ${routes.added} routes added, ${routes.removed} removed, ${subscriptionKeys.updated} subscriptions filed under their connection`);
            }
          })
          .catch((error: unknown) => reportError(`route backfill failed: ${error instanceof Error ? error.message : String(error)} (run: graph-relay --local migrate)`))
          .finally(() => documents.destroy());
      }
    }

    let writerLease: LocalStack['writerLease'];
    if (options.writerLease !== undefined) {
      const queueUrl = resyncQueues?.queueUrl;
      const sqs = queueUrl === undefined ? undefined : new SQSClient({ ...clientConfig, endpoint: emulator.url });
      const catchUp = (what: string, run: () => Promise<unknown>) => async () => {
        void run().catch((error: unknown) => reportError(`${what} catch-up after the takeover failed: ${error instanceof Error ? error.message : String(error)}`));
      };
      const heartbeat = startLocalWriterLease({
        region: names.region,
        settings: options.writerLease,
        dynamodb: { ...clientConfig, endpoint: dynamodbEndpoint },
        connectionsTable: names.connectionsTable,
        catchUp: { renewal: catchUp('renewal', () => renewal.runNow()), reconcile: catchUp('reconcile', () => reconcile.runNow()) },
        deliver: {
          ...(options.lifecycle === false
            ? {}
            : {
                // Handed over and not waited for, as the deployed heartbeat's asynchronous invoke: a backlog of hand-offs
                // must not hold up the next heartbeat (and with it the lease).
                lifecycle: async (event: unknown) => {
                  const { handler: handleLifecycle } = await import('../functions/lifecycle/handler');
                  void handleLifecycle(event, { getRemainingTimeInMillis: () => LOCAL_LIFECYCLE_BUDGET_MS }).then(
                    (answer) => options.log?.(`lifecycle (handed off by another region): ${'outcome' in answer ? answer.outcome : answer.skipped}`),
                    (error: unknown) => reportError(`lifecycle (handed off by another region) failed: ${error instanceof Error ? error.message : String(error)}`),
                  );
                },
              }),
          ...(sqs === undefined ? {} : { resync: async (body: string) => void (await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }))) }),
        },
        log: (line) => options.log?.(line),
        logError: (line) => reportError(line),
      });
      writerLease = heartbeat;
      started.push({
        stop: async () => {
          await heartbeat.stop();
          heartbeat.destroy();
          sqs?.destroy();
        },
      });
      // The first heartbeat before the stack reports itself started: a region alone takes the lease at once.
      await heartbeat.runNow();
    }

    const descriptor: LocalStackDescriptor = {
      pid: process.pid,
      region: names.region,
      intakeUrl: url,
      webhookBaseUrl,
      dynamodbEndpoint,
      awsEmulatorEndpoint: emulator.url,
      connectionsTable: names.connectionsTable,
      deliveriesTable: names.deliveriesTable,
      eventBusName: names.eventBusName,
      eventSource: names.eventSource,
      webhookSecretPrefix: names.webhookSecretPrefix,
      payloadBucket: names.payloadBucket,
      ...(resyncQueues === undefined ? {} : { resyncQueueUrl: resyncQueues.queueUrl }),
      renewalIntervalSeconds: intervalSeconds,
      writerLease: options.writerLease === undefined ? 'off' : 'on',
      ...(options.writerLease === undefined ? {} : { leaseHeartbeatSeconds: options.writerLease.heartbeatSeconds }),
      ...(options.writerLease?.table === undefined ? {} : { writerLeaseTable: options.writerLease.table }),
      eventsFile: join(options.dataDir, 'events.ndjson'),
      startedAt: new Date().toISOString(),
    };
    await writeLocalStackDescriptor(options.dataDir, descriptor);
    started.push({ stop: () => removeLocalStackDescriptor(options.dataDir, descriptor) });
    return { url, descriptor, emulator, renewal, lifecycle, resync, reconcile, connectionsStream, routeIndexStream, writerLease, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/**
 * A schedule whose runs a region not holding the writer lease skips: a skipped tick is silent (the heartbeat logs who
 * the writer is), and `runNow()` rejects with NotWriterError rather than answering a report that is none.
 */
function writerOnly<R extends object>(what: string, schedule: LocalRenewalSchedule<R | NotWriter>): LocalRenewalSchedule<R> {
  return {
    runNow: async () => {
      const result = await schedule.runNow();
      if (isNotWriter(result)) throw new NotWriterError(what, result.writer);
      return result;
    },
    stop: () => schedule.stop(),
  };
}
