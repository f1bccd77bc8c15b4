/**
 * The stack the reliability suite runs against: `npm start` in its own process (the intake, the HTTP adapter and
 * the AWS emulator, exactly as a user runs them), on a DynamoDB Local this suite owns so that it can stop and restart
 * it mid-load. The child reaches DynamoDB Local through a counting proxy, so a phase can tell how many reads the
 * product made. Everything the child writes is kept, for the secrets scan and the hostile phase's log cost.
 */
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { startNpmStart, type NpmStartStack } from '../../testkit/npm-start';
import type { EmittedEvent } from '../../local/aws-emulator';
import type { Fault } from '../../local/aws-emulator/faults';
import { LOCAL_CREDENTIALS, type LocalStackDescriptor } from '../../local/descriptor';
import { freePort, startDynamoDbLocal, type DynamoDbLocal } from '../../local/dynamodb-local';
import { startDynamoDbProxy } from '../../testkit/dynamodb-proxy';
import { INTAKE_DEFAULTS } from '../../shared/config/intake-config';
import { ENV } from '../../shared/config/env-names';
import { integrationSecretName } from '../../shared/secrets/integration-secret';
import { DynamoDbConnectionsStore } from '../../shared/store/dynamodb-connections-store';
import type { SecretRegistry } from './secrets';

/** Seconds the intake caches a webhook secret in this suite: short, so that a secret-read fault is felt within the run. */
export const SUITE_SECRET_MAX_AGE_SECONDS = 2;

export interface ReliabilityStack {
  /** The intake's base URL; webhooks are `${url}/webhook/<integrationId>`. */
  url: string;
  /** The AWS emulator (EventBridge, Secrets Manager, S3) and its control endpoints. */
  emulatorUrl: string;
  descriptor: LocalStackDescriptor;
  store: DynamoDbConnectionsStore;
  /** Creates or replaces an integration's secret; every string value in it is registered with the secrets scan. */
  putSecret(integrationId: string, value: Record<string, unknown>): Promise<void>;
  /** Events delivered to the stack's bus, as a rule target receives them (the emulator keeps the latest 50,000 in memory). */
  events(): Promise<EmittedEvent[]>;
  /**
   * Every event ever delivered to the stack's bus, read from the emulator's events file (one JSON line per event,
   * never trimmed), in delivery order: for counts beyond what the emulator keeps in memory.
   */
  deliveredEvents(): AsyncIterable<EmittedEvent>;
  clearEvents(): Promise<void>;
  /** Queues emulator faults (see local/aws-emulator/faults.ts): PutEvents errors, throttling, partial failures, GetSecretValue errors… */
  injectFaults(...faults: Fault[]): Promise<void>;
  /** Removes queued faults: of one operation, or all. */
  clearFaults(operation?: string): Promise<void>;
  /** Calls per AWS operation the emulator has answered. */
  emulatorStats(): Promise<Record<string, number>>;
  /** Calls per DynamoDB operation the stack has made (counted by a proxy in front of DynamoDB Local; the suite's own calls go around it). */
  dynamodbStats(): Record<string, number>;
  /** The stack's REGISTRY_MIN_REFRESH_SECONDS: an unknown integration id may bring a registry read forward at most this often. */
  registryMinRefreshSeconds: number;
  /** Entries of the PutEvents calls the SDK sent as retries (a client-side timeout may have put them twice). */
  retriedPutEventsEntries(): Promise<number>;
  /** DynamoDB Local itself: stopped (the process ends) and started again on the same port with the same data. */
  dynamodb: { stop(): Promise<void>; start(): Promise<void>; readonly running: boolean };
  /** False once the `npm start` process has exited. */
  running(): boolean;
  /** Everything the `npm start` process has written so far (stdout and stderr, interleaved as received). */
  output(): string;
  /** What the `npm start` process has written so far to one stream (each stream in the order written). */
  outputOf(stream: 'stdout' | 'stderr'): string;
  stop(): Promise<void>;
}

export async function startReliabilityStack(options: {
  workDir: string;
  secrets: SecretRegistry;
  log: (line: string) => void;
  /** Extra environment for `npm start`. */
  settings?: Record<string, string>;
}): Promise<ReliabilityStack> {
  // DynamoDB Local keeps its data in one SQLite file, so that it survives the faults phase's stop and restart. On a
  // disk that file is the suite's bottleneck (DynamoDB Local took 1.2-1.4 CPUs for 10 POSTs/s); on tmpfs (/dev/shm,
  // where the machine has one) it still outlives the process, at memory speed.
  const dbRoot = existsSync('/dev/shm') ? await mkdtemp(join('/dev/shm', 'graph-relay-reliability-')) : options.workDir;
  const dbPath = join(dbRoot, 'dynamodb');
  const dataDir = join(options.workDir, 'stack');
  await mkdir(dbPath, { recursive: true });
  await mkdir(dataDir, { recursive: true });
  const port = await freePort();
  let dynamodb: DynamoDbLocal | undefined = await startDynamoDbLocal({ dbPath, port });
  const endpoint = dynamodb.endpoint;
  // Transparent to the stack: an upstream that refuses (DynamoDB Local stopped) is answered 502, which the SDK retries.
  const proxy = await startDynamoDbProxy(endpoint);

  let output = '';
  const streams = { stdout: '', stderr: '' };
  const settings: Record<string, string> = {
    GRAPH_RELAY_QUIET: 'false',
    POWERTOOLS_LOG_LEVEL: 'DEBUG',
    SECRET_MAX_AGE_SECONDS: String(SUITE_SECRET_MAX_AGE_SECONDS),
    GRAPH_RELAY_CONNECTIONS_STREAM: 'false',
    GRAPH_RELAY_RENEWAL_INTERVAL_SECONDS: '0',
    ...options.settings,
  };
  let child: NpmStartStack;
  try {
    child = await startNpmStart({
      dataDir,
      dynamodbEndpoint: proxy.url,
      baseEnv: process.env,
      log: options.log,
      settings,
      onOutput: (stream, text) => {
        output += text;
        streams[stream] += text;
      },
    });
  } catch (error) {
    await proxy.close();
    await dynamodb.stop();
    throw error;
  }
  const d = child.descriptor;
  const clientConfig = { region: d.region, credentials: LOCAL_CREDENTIALS };
  // The suite's own writes retry through a DynamoDB restart instead of failing the seeding.
  const ddb = new DynamoDBClient({ ...clientConfig, endpoint, maxAttempts: 10 });
  const store = new DynamoDbConnectionsStore(DynamoDBDocumentClient.from(ddb), d.connectionsTable);
  const secretsClient = new SecretsManagerClient({ ...clientConfig, endpoint: d.awsEmulatorEndpoint });
  const emulator = d.awsEmulatorEndpoint;

  const control = async (path: string, init: RequestInit = {}): Promise<unknown> => {
    const response = await fetch(`${emulator}${path}`, init);
    const text = await response.text();
    if (!response.ok) throw new Error(`emulator ${init.method ?? 'GET'} ${path}: ${response.status} ${text}`);
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  };

  return {
    url: d.intakeUrl,
    emulatorUrl: emulator,
    descriptor: d,
    store,
    async putSecret(integrationId, value) {
      for (const text of Object.values(value)) if (typeof text === 'string') options.secrets.add(text, `secret of ${integrationId}`);
      const name = integrationSecretName(d.webhookSecretPrefix, integrationId);
      try {
        await secretsClient.send(new CreateSecretCommand({ Name: name, SecretString: JSON.stringify(value) }));
      } catch (error) {
        if ((error as Error).name !== 'ResourceExistsException') throw error;
        await secretsClient.send(new PutSecretValueCommand({ SecretId: name, SecretString: JSON.stringify(value) }));
      }
    },
    events: async () => (await control(`/_emulator/events?eventBusName=${encodeURIComponent(d.eventBusName)}`)) as EmittedEvent[],
    clearEvents: async () => {
      await control('/_emulator/events', { method: 'DELETE' });
    },
    injectFaults: async (...faults) => {
      await control('/_emulator/faults', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(faults) });
    },
    clearFaults: async (operation) => {
      await control(`/_emulator/faults${operation === undefined ? '' : `?operation=${encodeURIComponent(operation)}`}`, { method: 'DELETE' });
    },
    deliveredEvents: () => readEventsFile(d.eventsFile),
    emulatorStats: async () => (await control('/_emulator/stats')) as Record<string, number>,
    dynamodbStats: () => proxy.stats(),
    registryMinRefreshSeconds: Number(settings[ENV.registryMinRefreshSeconds] ?? INTAKE_DEFAULTS.registryMinRefreshSeconds),
    retriedPutEventsEntries: async () => ((await control('/_emulator/client-retries')) as Record<string, { entries: number } | undefined>)['PutEvents']?.entries ?? 0,
    dynamodb: {
      async stop() {
        await dynamodb?.stop();
        dynamodb = undefined;
      },
      async start() {
        dynamodb ??= await startDynamoDbLocal({ dbPath, port });
      },
      get running() {
        return dynamodb !== undefined;
      },
    },
    running: () => child.running(),
    output: () => output,
    outputOf: (stream) => streams[stream],
    async stop() {
      await child.stop();
      await proxy.close();
      ddb.destroy();
      secretsClient.destroy();
      await dynamodb?.stop();
      dynamodb = undefined;
      if (dbRoot !== options.workDir) await rm(dbRoot, { recursive: true, force: true });
    },
  };
}

/** The events in the emulator's events file (one JSON line per event delivered to any of its buses; the stack publishes to its own only). */
export async function* readEventsFile(path: string): AsyncGenerator<EmittedEvent> {
  if (!existsSync(path)) return;
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  for await (const line of lines) if (line.trim() !== '') yield JSON.parse(line) as EmittedEvent;
}
