/**
 * In-process emulator of the Amazon EventBridge, AWS Secrets Manager, Amazon SQS and Amazon S3 operations graph-relay
 * uses. EventBridge and Secrets Manager speak AWS JSON 1.1 (`POST /`), SQS AWS JSON 1.0 (`POST /`, see ./sqs.ts), S3
 * its REST API path-style (`/bucket/key`, see ./s3.ts), so the unmodified SDK v3 clients work against it with only
 * the endpoint changed (`endpoint: emulator.url`, or AWS_ENDPOINT_URL_EVENTBRIDGE / AWS_ENDPOINT_URL_SECRETS_MANAGER /
 * AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL_S3; S3 clients also `forcePathStyle: true` unless the endpoint is an IP
 * address).
 *
 * HTTP control endpoints beside the AWS endpoint (`POST /`):
 *   GET /healthz                                   200 {"status":"ok"}
 *   GET | POST | DELETE /_emulator/faults[?operation=Op]   list, add (a fault or a list), clear
 *   GET | DELETE /_emulator/events[?eventBusName=name]     delivered events as a JSON array, clear
 *   GET | DELETE /_emulator/stats                  calls per operation, reset
 *   GET /_emulator/client-retries                  calls the SDK marked as retries (attempt ≥ 2), with their entries
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeService, type EmittedEvent } from './eventbridge';
import { FaultInjector } from './faults';
import { SecretsManagerService } from './secrets-manager';
import { S3Service } from './s3';
import { SqsService } from './sqs';
import { CallStats, startServer } from './server';
import { ensurePrivateDir } from '../private-files';

export type { EmittedEvent, EventListener } from './eventbridge';
export { InvalidEventPatternError } from './event-pattern';
export { FaultInjector, InvalidFaultError, type ErrorFault, type Fault, type FaultErrorCode, type PartialFault } from './faults';

export interface AwsEmulatorOptions {
  /** 0 picks a free port. Default 0. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /**
   * When set, secrets persist in `<dataDir>/secrets.json` (reloaded on start), S3 objects in
   * `<dataDir>/s3/<bucket>/<key>` (kept across restarts: there is no lifecycle expiry locally), and every delivered
   * event is appended as one JSON line, exactly as a rule target receives it, to `<dataDir>/events.ndjson`.
   * Without it, S3 objects go to a temporary folder removed on close. SQS queues and messages are always in memory.
   */
  dataDir?: string;
  /** Default us-east-1. */
  region?: string;
  /** Default 000000000000. */
  accountId?: string;
}

export interface AwsEmulator {
  /** http://<host>:<port>, the endpoint for SDK clients and the control endpoints. */
  url: string;
  close(): Promise<void>;
  /**
   * Events delivered to existing buses, in order, each exactly as a rule target receives it; pass a bus
   * name to see only that bus. Entries sent to a bus that does not exist get an EventId but are dropped,
   * as on AWS, so they never appear here.
   */
  events(eventBusName?: string): EmittedEvent[];
  clearEvents(): void;
  faults: FaultInjector;
  /** Calls per operation, e.g. { PutEvents: 3 }; SDK retries count as calls. */
  stats(): Record<string, number>;
  resetStats(): void;
  /**
   * In-process rule: `listener` gets every event later delivered to `eventBusName` that matches `pattern` (an
   * EventBridge event pattern, as an object or JSON), after PutEvents has answered. Errors it throws go to
   * `onError` (default: logged to stderr). Returns the unsubscribe function.
   * @throws InvalidEventPatternError for a pattern EventBridge would refuse.
   */
  onEvent(
    rule: { eventBusName: string; pattern: Record<string, unknown> | string },
    listener: (event: EmittedEvent) => unknown,
    onError?: (error: unknown) => void,
  ): () => void;
}

export async function startAwsEmulator(options: AwsEmulatorOptions = {}): Promise<AwsEmulator> {
  const { port = 0, host = '127.0.0.1', dataDir, region = 'us-east-1', accountId = '000000000000' } = options;
  // Owner only: it holds the secrets' values and the delivered events.
  if (dataDir !== undefined) ensurePrivateDir(dataDir);
  const eventBridge = new EventBridgeService({
    region,
    accountId,
    eventsFile: dataDir === undefined ? undefined : join(dataDir, 'events.ndjson'),
  });
  const secretsManager = new SecretsManagerService({
    region,
    accountId,
    stateFile: dataDir === undefined ? undefined : join(dataDir, 'secrets.json'),
  });
  const s3 =
    dataDir === undefined
      ? new S3Service({ root: mkdtempSync(join(tmpdir(), 'aws-emulator-s3-')), region, temporary: true })
      : new S3Service({ root: join(dataDir, 's3'), region });
  const sqs = new SqsService({ region, accountId });
  const services = [eventBridge, secretsManager, sqs];
  const faults = new FaultInjector(new Set([...services.flatMap((service) => [...service.operations.keys()]), ...s3.operations]));
  const stats = new CallStats();
  const server = await startServer(host, port, {
    services,
    s3,
    faults,
    stats,
    events: (eventBusName) => eventBridge.events(eventBusName),
    clearEvents: () => eventBridge.clearEvents(),
  });
  return {
    url: server.url,
    close: () => {
      // Long polls answer at once rather than hold the close for up to 20 s.
      sqs.close();
      return server.close().finally(() => s3.close());
    },
    events: (eventBusName) => eventBridge.events(eventBusName),
    clearEvents: () => eventBridge.clearEvents(),
    faults,
    stats: () => stats.snapshot(),
    resetStats: () => stats.reset(),
    onEvent: (rule, listener, onError = (error) => console.error(`aws-emulator: event listener failed: ${String(error)}`)) =>
      eventBridge.subscribe(rule.eventBusName, typeof rule.pattern === 'string' ? rule.pattern : JSON.stringify(rule.pattern), listener, onError),
  };
}
