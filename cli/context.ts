import { resolve } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand, type Output as StackOutput } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeArchiveCommand,
  DescribeReplayCommand,
  DescribeRuleCommand,
  EventBridgeClient,
  StartReplayCommand,
} from '@aws-sdk/client-eventbridge';
import { GetScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { EventEntry } from '../shared/events/contract';
import { lazyPayloadStore } from '../shared/events/payload-store';
import { EventBridgePublisher } from '../shared/events/publisher';
import type { ResyncedEventEntry, SubscriptionEventEntry } from '../shared/events/subscription-events';
import type { ResyncRequests } from '../shared/resync/resync-job';
import type { ResyncPorts } from '../shared/resync/run-resync';
import { SqsResyncRequests } from '../shared/resync/sqs-resync-requests';
import { DynamoDbResyncStateStore, type ResyncStateStore } from '../shared/store/resync-checkpoints';
import { DynamoDbWriterLeaseStore } from '../shared/leadership/dynamodb-leadership-store';
import { WRITER_LEASE_DEFAULTS } from '../shared/leadership/writer-lease';
import { z } from 'zod';
import { LOCAL_CREDENTIALS, findLocalDataDir, readLocalStackDescriptor } from '../local/descriptor';
import type { ConnectionsStore } from '../shared/store/connections-store';
import { migrateTable, type TableMigrationOptions, type TableMigrationReport } from '../shared/store/migrations';
import { DynamoDbConnectionsStore } from '../shared/store/dynamodb-connections-store';
import { DynamoDbRefusalStore } from '../shared/store/refusal-store';
import { DynamoDbSubscriptionsStore, type SubscriptionsStore } from '../shared/store/subscriptions-store';
import { secretStoreGraphAccess, type EventsAccess, type GraphAccess } from './graph-access';
import type { RegionsAccess, WriterLeaseView } from './commands/doctor-regions';
import { CommandFailedError, parseArg } from './output';
import { awsRegionsAccess, localRegionsAccess } from './regions-access';
import { SecretsManagerSecretStore, type SecretStore } from './secret-store';

/** The program-wide flags, as commander hands them over. */
export interface GlobalOptions {
  local?: boolean;
  stage: string;
  region?: string;
  connectionsTable?: string;
  webhookSecretPrefix?: string;
}

/** Names of the deployment a command acts on. */
export interface Target {
  region: string;
  connectionsTable: string;
  webhookSecretPrefix: string;
  /** The redelivery markers and refused-request tallies; unknown when the names came from flags and the stack was not read. */
  deliveriesTable?: string;
  /** Unknown when the names came from flags and the stack was not read. */
  webhookBaseUrl?: string;
  /** The stack's event bus and event source; unknown when the stack was not read. */
  eventBusName?: string;
  eventSource?: string;
  /** The stack read (AWS mode), for messages; unknown locally and when the names came from flags. */
  stackName?: string;
  /** AWS: the EventBridge Scheduler schedule that runs the renewal (stack output RenewalScheduleName). */
  renewalScheduleName?: string;
  /** The SQS queue resyncs are asked on (stack output ResyncQueueUrl, or the local stack's); unknown before a stack that has one. */
  resyncQueueUrl?: string;
  /** Where events over 256 KB keep their full detail (stack output PayloadBucketName, or the local stack's). */
  payloadBucket?: string;
  /** Local: seconds between scheduled renewal runs, 0 when disabled (from the descriptor). */
  renewalIntervalSeconds?: number;
  /** AWS: the bus archive replays read from, and the bus they go to (stack outputs). */
  archiveName?: string;
  archiveArn?: string;
  eventBusArn?: string;
  /** AWS, a multi-region stage: the other regions each integration secret is replicated to (stack output SecretReplicaRegions). */
  secretReplicaRegions?: readonly string[];
  /** AWS, a multi-region stage: its primary and secondary regions (stack outputs PrimaryRegion, SecondaryRegion). */
  primaryRegion?: string;
  secondaryRegion?: string;
  /**
   * The table holding the Graph writer lease: AWS, stack output WriterLeaseTableName; locally, with the lease on,
   * the descriptor's lease table or else its connections table.
   */
  writerLeaseTable?: string;
  /** AWS, a multi-region stage: this region's own webhook API, not the failover domain (stack output RegionalWebhookBaseUrl). */
  regionalWebhookBaseUrl?: string;
  /** AWS, a multi-region stage: the Route 53 health check of this region's `/health` (stack output HealthCheckId). */
  healthCheckId?: string;
}

/** Whether the renewal runs on its schedule; `unknown` says in plain words why it could not be told. */
export type RenewalScheduleStatus = { state: 'enabled' | 'disabled'; description: string } | { state: 'unknown'; problem: string };

export interface RenewalScheduleAccess {
  status(): Promise<RenewalScheduleStatus>;
}

export type ReplayState = 'STARTING' | 'RUNNING' | 'CANCELLING' | 'COMPLETED' | 'CANCELLED' | 'FAILED';

export interface ReplayStatus {
  state: ReplayState;
  stateReason?: string;
  /** How far the replay got, in event time. */
  lastReplayedAt?: Date;
}

/** EventBridge replays from the stack's bus archive back to its bus. */
export interface ReplayAccess {
  /** @throws CommandFailedError naming the missing stack output. */
  archive(): Promise<{ archiveArn: string; eventBusArn: string }>;
  /** The ARN of a rule on the stack's bus. @throws CommandFailedError when there is no such rule. */
  ruleArn(ruleName: string): Promise<string>;
  start(input: { replayName: string; archiveArn: string; eventBusArn: string; from: Date; to: Date; ruleArns: readonly string[] }): Promise<{ replayArn: string; state: ReplayState }>;
  describe(replayName: string): Promise<ReplayStatus>;
}

/** Refused webhook requests as the intake tallied them (shared/store/refusal-store.ts), read by `doctor`. */
export type RefusalAccess = Pick<DynamoDbRefusalStore, 'recent'>;

/** Backfills of items a newer version needs, over the whole connections table (`graph-relay migrate`). */
export interface MigrationAccess {
  run(options: TableMigrationOptions): Promise<TableMigrationReport>;
}

/**
 * Catch-up with delta queries from the CLI: the resync states (doctor), the target's resync queue, and what a run in
 * this process needs besides the stores, wired as the resync function wires it (functions/resync/runtime.ts).
 */
export interface ResyncAccess {
  states: ResyncStateStore;
  /** Undefined when the target has no resync queue; `noQueue` then says why, and what to do. */
  requests?: ResyncRequests;
  noQueue?: string;
  /** Undefined when the event bus is unknown (names given as flags): nothing could be published. */
  run?: Pick<ResyncPorts, 'graphFor' | 'publisher' | 'summaries' | 'payloads' | 'eventSource'>;
}

export interface Context {
  target: Target;
  migrations?: MigrationAccess;
  store: ConnectionsStore;
  /** Records of the Graph subscriptions created; they live in the connections table. */
  subscriptions: SubscriptionsStore;
  secrets: SecretStore;
  /** Graph through the integrations' app credentials. */
  graph: GraphAccess;
  /** Undefined when the event bus is unknown (names given as flags). */
  events?: EventsAccess;
  /** Undefined when the command's mode has no such thing to ask. */
  renewalSchedule?: RenewalScheduleAccess;
  replays?: ReplayAccess;
  /** Undefined when the deliveries table is unknown (names given as flags). */
  refusals?: RefusalAccess;
  /** Undefined in tests that do not need it. */
  resync?: ResyncAccess;
  /** The regions of a multi-region stage (AWS), or the local stack as one region (lease on); undefined otherwise. */
  regions?: RegionsAccess;
  close(): void;
}

/** What a command works with: everything but the clients' lifecycle. */
export type CommandContext = Pick<
  Context,
  'target' | 'store' | 'subscriptions' | 'secrets' | 'graph' | 'events' | 'renewalSchedule' | 'replays' | 'migrations' | 'refusals' | 'resync' | 'regions'
>;

/** How the commands reach the outside world; tests pass fakes. */
export interface Ports {
  openContext(options: GlobalOptions): Promise<Context>;
  eventsFile(options: GlobalOptions): Promise<string>;
}

/** CloudFormation stack names allow letters, digits and hyphens. */
const stageSchema = z.string().regex(/^[A-Za-z][A-Za-z0-9-]*$/, 'stage must be letters, digits and "-", starting with a letter');

export function stackName(stage: string): string {
  return `GraphRelay-${parseArg(stageSchema, stage, '--stage')}`;
}

/** A multi-region stage's stack in `region`, as infra/graph-relay-app.ts `regionalStackName` names it. */
export function regionalStackName(stage: string, region: string): string {
  return `${stackName(stage)}-${region}`;
}

/** The real ports: AWS SDK clients, pointed at AWS or at the local stack. */
export const sdkPorts: Ports = {
  async openContext(options) {
    const { target, clientConfig, regions } = options.local ? await localTarget(options) : await awsTarget(options);
    const dynamodb = new DynamoDBClient(clientConfig.dynamodb);
    const secretsManager = new SecretsManagerClient(clientConfig.secretsManager);
    // The local emulator serves EventBridge and Secrets Manager on one endpoint.
    const eventBridge = new EventBridgeClient(clientConfig.secretsManager);
    const documents = DynamoDBDocumentClient.from(dynamodb);
    const secrets = new SecretsManagerSecretStore(secretsManager);
    const { eventBusName, eventSource } = target;
    const scheduler = options.local ? undefined : new SchedulerClient({ region: target.region });
    const graph = secretStoreGraphAccess(secrets, target.webhookSecretPrefix);
    // The local emulator serves SQS and S3 (path-style) on the same endpoint as Secrets Manager.
    const sqs = target.resyncQueueUrl === undefined ? undefined : new SQSClient(clientConfig.secretsManager);
    const { payloadBucket } = target;
    const resync: ResyncAccess = {
      states: new DynamoDbResyncStateStore(documents, target.connectionsTable),
      ...(sqs === undefined || target.resyncQueueUrl === undefined
        ? { noQueue: options.local ? 'the local stack runs without a resync queue (started without it, or by an older version): restart it with npm start' : `${stackLabel(target)} has no output ResyncQueueUrl (older deployment, or names given as flags): redeploy it` }
        : { requests: new SqsResyncRequests(sqs, target.resyncQueueUrl) }),
      ...(eventBusName === undefined || eventSource === undefined
        ? {}
        : {
            run: {
              graphFor: (id: string) => graph.graphClientFor(id),
              publisher: new EventBridgePublisher<EventEntry>(eventBridge, eventBusName, { maxAttempts: 4, concurrency: 4 }),
              summaries: new EventBridgePublisher<ResyncedEventEntry>(eventBridge, eventBusName, { maxAttempts: 4, concurrency: 1 }),
              payloads:
                payloadBucket === undefined
                  ? undefined
                  : lazyPayloadStore(payloadBucket, async () => {
                      const { S3PayloadStore } = await import('../shared/events/s3-payload-store');
                      return S3PayloadStore.create(payloadBucket, { ...clientConfig.secretsManager, forcePathStyle: options.local === true });
                    }),
              eventSource,
            },
          }),
    };
    return {
      target,
      store: new DynamoDbConnectionsStore(documents, target.connectionsTable),
      migrations: { run: (migration) => migrateTable(documents, target.connectionsTable, migration) },
      subscriptions: new DynamoDbSubscriptionsStore(documents, target.connectionsTable),
      secrets,
      graph,
      ...(eventBusName === undefined || eventSource === undefined
        ? {}
        : {
            events: {
              source: eventSource,
              publish: (events: readonly SubscriptionEventEntry[]) =>
                new EventBridgePublisher<SubscriptionEventEntry>(eventBridge, eventBusName, { maxAttempts: 4, concurrency: 1 }).publish(events),
            },
          }),
      renewalSchedule: scheduler === undefined ? localRenewalSchedule(target) : awsRenewalSchedule(scheduler, target),
      ...(options.local ? {} : { replays: eventBridgeReplays(eventBridge, target) }),
      ...(target.deliveriesTable === undefined ? {} : { refusals: new DynamoDbRefusalStore(documents, target.deliveriesTable) }),
      resync,
      ...(regions === undefined ? {} : { regions: regions(documents) }),
      close() {
        dynamodb.destroy();
        sqs?.destroy();
        secretsManager.destroy();
        eventBridge.destroy();
        scheduler?.destroy();
      },
    };
  },

  async eventsFile(options) {
    if (!options.local) {
      throw new CommandFailedError(
        `events tail reads the local stack only: EventBridge has no API to read events from a bus. ` +
          `In AWS, add a rule on the bus of ${stackName(options.stage)} (stack output EventBusName) with a CloudWatch Logs ` +
          `target and run: aws logs tail <log group> --follow`,
      );
    }
    const dataDir = findLocalDataDir();
    const descriptor = await readLocalStackDescriptor(dataDir);
    return resolve(dataDir, descriptor.eventsFile);
  },
};

interface ClientConfig {
  region: string;
  endpoint?: string;
  credentials?: typeof LOCAL_CREDENTIALS;
}

interface ResolvedTarget {
  target: Target;
  clientConfig: { dynamodb: ClientConfig; secretsManager: ClientConfig };
  /** Undefined: one region, no lease to report. */
  regions?: (documents: DynamoDBDocumentClient) => RegionsAccess;
}

/** The writer lease item as doctor shows it; undefined while no region has written it. */
function leaseReader(documents: DynamoDBDocumentClient, tableName: string): () => Promise<WriterLeaseView | undefined> {
  const store = new DynamoDbWriterLeaseStore(documents, tableName);
  return async () => {
    const lease = await store.read();
    return lease === undefined ? undefined : { holder: lease.holder, epoch: lease.epoch, renewedAt: lease.renewedAt, expiresAt: lease.expiresAt };
  };
}

async function localTarget(options: GlobalOptions): Promise<ResolvedTarget> {
  const descriptor = await readLocalStackDescriptor(findLocalDataDir());
  const base = { region: descriptor.region, credentials: LOCAL_CREDENTIALS };
  // The lease's own table when the descriptor names one, else the connections table, where the local stack keeps it.
  const leaseTable = descriptor.writerLease === 'on' ? (descriptor.writerLeaseTable ?? descriptor.connectionsTable) : undefined;
  return {
    target: {
      region: descriptor.region,
      connectionsTable: options.connectionsTable ?? descriptor.connectionsTable,
      webhookSecretPrefix: options.webhookSecretPrefix ?? descriptor.webhookSecretPrefix,
      deliveriesTable: descriptor.deliveriesTable,
      webhookBaseUrl: descriptor.webhookBaseUrl,
      eventBusName: descriptor.eventBusName,
      eventSource: descriptor.eventSource,
      ...(descriptor.resyncQueueUrl === undefined ? {} : { resyncQueueUrl: descriptor.resyncQueueUrl }),
      ...(descriptor.payloadBucket === undefined ? {} : { payloadBucket: descriptor.payloadBucket }),
      ...(descriptor.renewalIntervalSeconds === undefined ? {} : { renewalIntervalSeconds: descriptor.renewalIntervalSeconds }),
      ...(leaseTable === undefined ? {} : { writerLeaseTable: leaseTable }),
    },
    clientConfig: {
      dynamodb: { ...base, endpoint: descriptor.dynamodbEndpoint },
      secretsManager: { ...base, endpoint: descriptor.awsEmulatorEndpoint },
    },
    ...(leaseTable === undefined
      ? {}
      : {
          regions: (documents: DynamoDBDocumentClient) =>
            localRegionsAccess({
              region: descriptor.region,
              intakeUrl: descriptor.intakeUrl,
              leaseGraceSeconds: WRITER_LEASE_DEFAULTS.graceSeconds,
              readLease: leaseReader(documents, leaseTable),
            }),
        }),
  };
}

async function awsTarget(options: GlobalOptions): Promise<ResolvedTarget> {
  // A stage that cannot name a stack is refused before anything is asked.
  stackName(options.stage);
  const cloudFormation = new CloudFormationClient(options.region === undefined ? {} : { region: options.region });
  try {
    const region = await regionOf(cloudFormation);
    const named = { connectionsTable: options.connectionsTable, webhookSecretPrefix: options.webhookSecretPrefix };
    // With both names given on the command line the stack need not be read (nor readable).
    const target: Target =
      named.connectionsTable !== undefined && named.webhookSecretPrefix !== undefined
        ? { region, connectionsTable: named.connectionsTable, webhookSecretPrefix: named.webhookSecretPrefix }
        : await stackTarget(cloudFormation, options.stage, region, named);
    return { target, clientConfig: { dynamodb: { region }, secretsManager: { region } }, ...awsRegions(options.stage, target) };
  } finally {
    cloudFormation.destroy();
  }
}

async function regionOf(client: CloudFormationClient): Promise<string> {
  try {
    return await client.config.region();
  } catch {
    throw new CommandFailedError('no AWS region configured: pass --region or set AWS_REGION');
  }
}

/** A multi-region stage's regions: each regional stack, Route 53, replication, and the lease in this region's replica. */
function awsRegions(stage: string, target: Target): Pick<ResolvedTarget, 'regions'> {
  const { primaryRegion, secondaryRegion } = target;
  if (primaryRegion === undefined || secondaryRegion === undefined) return {};
  // An older multi-region deployment kept the lease in the connections table, as the functions still do without the output.
  const leaseTable = target.writerLeaseTable ?? target.connectionsTable;
  return {
    regions: (documents) =>
      awsRegionsAccess({
        stackNameOf: (region) => regionalStackName(stage, region),
        topology: { primary: primaryRegion, secondary: secondaryRegion },
        connectionsTable: target.connectionsTable,
        leaseGraceSeconds: WRITER_LEASE_DEFAULTS.graceSeconds,
        readLease: leaseReader(documents, leaseTable),
      }),
  };
}

/** The stack's outputs, or undefined when CloudFormation has no such stack in the client's region. */
async function describeStack(client: CloudFormationClient, name: string): Promise<StackOutput[] | undefined> {
  try {
    const { Stacks } = await client.send(new DescribeStacksCommand({ StackName: name }));
    return Stacks?.[0]?.Outputs ?? [];
  } catch (error) {
    // CloudFormation reports a missing stack as a generic ValidationError.
    if (error instanceof Error && error.name === 'ValidationError' && error.message.includes('does not exist')) return undefined;
    throw error;
  }
}

/** `GraphRelay-<stage>`, else the stack a multi-region stage has in this region, `GraphRelay-<stage>-<region>`. */
async function stackTarget(
  client: CloudFormationClient,
  stage: string,
  region: string,
  named: { connectionsTable: string | undefined; webhookSecretPrefix: string | undefined },
): Promise<Target> {
  let name = stackName(stage);
  let outputs = await describeStack(client, name);
  if (outputs === undefined) {
    const regional = regionalStackName(stage, region);
    outputs = await describeStack(client, regional);
    if (outputs === undefined) {
      throw new CommandFailedError(
        `stack ${name} not found in ${region}, nor ${regional} (a multi-region stage's stack in that region): deploy with npx cdk deploy -c stage=${stage}, ` +
          'or pass --connections-table and --webhook-secret-prefix',
      );
    }
    name = regional;
  }
  const found = outputs;
  const output = (key: string) => found.find((o) => o.OutputKey === key)?.OutputValue;
  const required = (key: string) => {
    const value = output(key);
    if (value === undefined) throw new CommandFailedError(`stack ${name} in ${region} has no output ${key}: redeploy it`);
    return value;
  };
  return {
    region,
    connectionsTable: named.connectionsTable ?? required('ConnectionsTableName'),
    webhookSecretPrefix: named.webhookSecretPrefix ?? required('WebhookSecretPrefix'),
    deliveriesTable: output('DeliveriesTableName'),
    webhookBaseUrl: output('WebhookBaseUrl'),
    eventBusName: output('EventBusName'),
    eventSource: output('EventSource'),
    stackName: name,
    renewalScheduleName: output('RenewalScheduleName'),
    resyncQueueUrl: output('ResyncQueueUrl'),
    payloadBucket: output('PayloadBucketName'),
    archiveName: output('ArchiveName'),
    archiveArn: output('ArchiveArn'),
    eventBusArn: output('EventBusArn'),
    ...optionalReplicaRegions(output('SecretReplicaRegions'), region),
    ...optional('primaryRegion', output('PrimaryRegion')),
    ...optional('secondaryRegion', output('SecondaryRegion')),
    ...optional('writerLeaseTable', output('WriterLeaseTableName')),
    ...optional('regionalWebhookBaseUrl', output('RegionalWebhookBaseUrl')),
    ...optional('healthCheckId', output('HealthCheckId')),
  };
}

/** `{ [key]: value }`, or nothing for an output the stack does not have. */
function optional<K extends keyof Target>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined || value === '' ? {} : ({ [key]: value } as Partial<Record<K, string>>);
}

/** The stack's comma-separated SecretReplicaRegions, without the region the CLI works in; absent when there are none. */
function optionalReplicaRegions(value: string | undefined, region: string): { secretReplicaRegions?: readonly string[] } {
  const regions = (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '' && item !== region);
  return regions.length === 0 ? {} : { secretReplicaRegions: regions };
}

/**
 * The AWS SDK's credential chain found nothing usable (no profile, keys, SSO session or instance role): says what to
 * set instead, or to use the local stack. Any other error is returned as it is.
 */
export function explainCredentialsError(error: unknown): unknown {
  if (!(error instanceof Error) || error.name !== 'CredentialsProviderError') return error;
  return new CommandFailedError(
    `no usable AWS credentials (${error.message}): set AWS_PROFILE (and run aws sso login for an SSO profile), ` +
      'or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; for the local stack started with npm start, pass --local',
  );
}

function stackLabel(target: Target): string {
  return target.stackName === undefined ? 'the stack' : `stack ${target.stackName}`;
}

function localRenewalSchedule(target: Target): RenewalScheduleAccess {
  return {
    async status() {
      const seconds = target.renewalIntervalSeconds;
      if (seconds === undefined) {
        return { state: 'unknown', problem: 'the local stack did not record its renewal interval (started by an older version): restart it with npm start' };
      }
      return seconds > 0
        ? { state: 'enabled', description: `the local stack renews every ${seconds} s` }
        : { state: 'disabled', description: 'the local stack runs no scheduled renewal (GRAPH_RELAY_RENEWAL_INTERVAL_SECONDS=0)' };
    },
  };
}

/** `RenewalScheduleName` is `<name>` in the default group, or `<group>/<name>`. */
function awsRenewalSchedule(client: SchedulerClient, target: Target): RenewalScheduleAccess {
  return {
    async status() {
      const output = target.renewalScheduleName;
      if (output === undefined) {
        return { state: 'unknown', problem: `${stackLabel(target)} has no output RenewalScheduleName (older deployment, or names given as flags): redeploy it` };
      }
      const slash = output.indexOf('/');
      const [groupName, name] = slash === -1 ? [undefined, output] : [output.slice(0, slash), output.slice(slash + 1)];
      try {
        const schedule = await client.send(new GetScheduleCommand({ Name: name, ...(groupName === undefined ? {} : { GroupName: groupName }) }));
        const described = `schedule ${output} (${schedule.ScheduleExpression ?? 'no expression'}) is ${schedule.State ?? 'in no state'}`;
        return { state: schedule.State === 'ENABLED' ? 'enabled' : 'disabled', description: described };
      } catch (error) {
        if (error instanceof Error && error.name === 'ResourceNotFoundException') {
          return { state: 'unknown', problem: `schedule ${output} (stack output RenewalScheduleName) does not exist in ${target.region}: redeploy the stack` };
        }
        return { state: 'unknown', problem: `could not read schedule ${output}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}` };
      }
    },
  };
}

const REPLAY_STATES: readonly ReplayState[] = ['STARTING', 'RUNNING', 'CANCELLING', 'COMPLETED', 'CANCELLED', 'FAILED'];

function replayState(state: string | undefined): ReplayState {
  const known = REPLAY_STATES.find((s) => s === state);
  if (known === undefined) throw new CommandFailedError(`EventBridge answered with an unknown replay state ${JSON.stringify(state)}`);
  return known;
}

/** `arn:aws:events:<region>:<account>:archive/<name>` → `<name>`. */
function archiveNameOf(arn: string): string {
  return arn.slice(arn.lastIndexOf('/') + 1);
}

function eventBridgeReplays(client: EventBridgeClient, target: Target): ReplayAccess {
  return {
    async archive() {
      const archiveName = target.archiveName ?? (target.archiveArn === undefined ? undefined : archiveNameOf(target.archiveArn));
      if (archiveName === undefined) {
        throw new CommandFailedError(`${stackLabel(target)} has no output ArchiveName or ArchiveArn (older deployment, or names given as flags): redeploy it`);
      }
      let described;
      try {
        described = await client.send(new DescribeArchiveCommand({ ArchiveName: archiveName }));
      } catch (error) {
        if (error instanceof Error && error.name === 'ResourceNotFoundException') {
          throw new CommandFailedError(`archive ${archiveName} does not exist in ${target.region}: redeploy the stack`);
        }
        throw error;
      }
      const archiveArn = target.archiveArn ?? described.ArchiveArn;
      // The archive's source is the stack's bus: the EventBusArn output only saves asking.
      const eventBusArn = target.eventBusArn ?? described.EventSourceArn;
      if (archiveArn === undefined || eventBusArn === undefined) throw new CommandFailedError(`EventBridge did not describe archive ${archiveName} fully: try again`);
      return { archiveArn, eventBusArn };
    },
    async ruleArn(ruleName) {
      try {
        const rule = await client.send(new DescribeRuleCommand({ Name: ruleName, ...(target.eventBusName === undefined ? {} : { EventBusName: target.eventBusName }) }));
        if (rule.Arn === undefined) throw new CommandFailedError(`EventBridge did not return the ARN of rule ${ruleName}`);
        return rule.Arn;
      } catch (error) {
        if (error instanceof Error && error.name === 'ResourceNotFoundException') {
          throw new CommandFailedError(`rule ${ruleName} not found on bus ${target.eventBusName ?? 'default'}: list them with aws events list-rules --event-bus-name ${target.eventBusName ?? 'default'}`);
        }
        throw error;
      }
    },
    async start(input) {
      const started = await client.send(
        new StartReplayCommand({
          ReplayName: input.replayName,
          Description: `graph-relay events replay ${input.from.toISOString()} to ${input.to.toISOString()}`,
          EventSourceArn: input.archiveArn,
          EventStartTime: input.from,
          EventEndTime: input.to,
          Destination: { Arn: input.eventBusArn, ...(input.ruleArns.length === 0 ? {} : { FilterArns: [...input.ruleArns] }) },
        }),
      );
      if (started.ReplayArn === undefined) throw new CommandFailedError(`EventBridge did not return the ARN of replay ${input.replayName}`);
      return { replayArn: started.ReplayArn, state: replayState(started.State) };
    },
    async describe(replayName) {
      const replay = await client.send(new DescribeReplayCommand({ ReplayName: replayName }));
      return {
        state: replayState(replay.State),
        ...(replay.StateReason === undefined ? {} : { stateReason: replay.StateReason }),
        ...(replay.EventLastReplayedTime === undefined ? {} : { lastReplayedAt: replay.EventLastReplayedTime }),
      };
    },
  };
}

