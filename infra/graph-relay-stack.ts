import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as route53 from 'aws-cdk-lib/aws-route53';
import type { Construct } from 'constructs';
import { ENV, PAYLOAD_BUCKET_ENV } from '../shared/config/env-names';
import { notificationUrl } from '../shared/subscriptions/notification-url';
import { AlarmTopic } from './constructs/alarm-topic';
import { ConnectionsTable } from './constructs/connections-table';
import { removalPolicyOf } from './constructs/data-retention';
import { DeliveriesTable } from './constructs/deliveries-table';
import { GraphRelayFunction } from './constructs/house-function';
import { IntakeAlarms } from './constructs/intake-alarms';
import { IntegrationSecrets } from './constructs/integration-secrets';
import { LifecycleHandler } from './constructs/lifecycle-handler';
import { NotificationBus } from './constructs/notification-bus';
import { OperationsDashboard } from './constructs/operations-dashboard';
import { PayloadBucket } from './constructs/payload-bucket';
import { Reconciler } from './constructs/reconciler';
import { Resync } from './constructs/resync';
import { RouteIndex } from './constructs/route-index';
import { SchemaRegistry } from './constructs/schema-registry';
import { TableMigration } from './constructs/table-migration';
import { RenewalSchedule } from './constructs/renewal-schedule';
import { WebhookApi } from './constructs/webhook-api';
import { WebhookEdge } from './constructs/webhook-edge';
import { WebhookDomain } from './constructs/webhook-domain';
import { grantReadWriterLease, writerLeaseEnvironment, WriterLease } from './constructs/writer-lease';
import { WriterLeaseTable } from './constructs/writer-lease-table';
import { multiRegionNames } from './multi-region-names';
import { webhookUrlOutputId, type MultiRegionSettings, type ReservedConcurrency, type StageConfig } from './stage-config';

export interface GraphRelayStackProps extends StackProps {
  readonly config: StageConfig;
  /**
   * The CLOUDFRONT-scope web ACL (WebhookFirewallStack, us-east-1) to put the webhook behind; required exactly
   * when the stage sets webhookFirewall.
   */
  readonly webAclArn?: string;
  /**
   * The stack's region in a multi-region stage (one of the stage's two; the stack's env.region): required exactly
   * when the stage sets multiRegion.
   */
  readonly relayRegion?: string;
}


/** What a stack of a multi-region stage is: its region, which one that is, and the stage's settings. */
interface RegionRole {
  readonly region: string;
  readonly primary: boolean;
  readonly settings: MultiRegionSettings;
}

/** The house function's option for a stage's reserved concurrency. */
const reservedConcurrencyOf = (value: ReservedConcurrency) => (value === 'unreserved' ? {} : { reservedConcurrentExecutions: value });

/** The whole relay for one stage: webhook API → intake function → connections/deliveries tables → event bus. */
export class GraphRelayStack extends Stack {
  constructor(scope: Construct, id: string, props: GraphRelayStackProps) {
    super(scope, id, props);
    const { config, webAclArn } = props;
    if ((config.webhookFirewall === undefined) !== (webAclArn === undefined)) {
      throw new Error(`Stage "${config.stage}": the stack takes a web ACL exactly when the stage sets webhookFirewall (composeGraphRelayApp does both).`);
    }
    const multi = regionRoleOf(config, props.relayRegion);
    const names = multiRegionNames(config.stage);
    const logRemovalPolicy = removalPolicyOf(config);

    const connections = new ConnectionsTable(this, 'ConnectionsTable', {
      retainData: config.retainData,
      ...(multi === undefined
        ? {}
        : {
            global: multi.primary
              ? { tableName: names.connectionsTable, replicaRegions: [multi.settings.secondaryRegion] }
              : { tableName: names.connectionsTable, replicaOf: multi.settings.primaryRegion, logs: { retention: config.logRetention, removalPolicy: logRemovalPolicy } },
          }),
    });
    // Every function construct gets the table, the stage's logs and, when it calls Graph, the integration secrets.
    const house = { connections, logRetention: config.logRetention, logRemovalPolicy };
    const graph = { ...house, integrationSecrets: new IntegrationSecrets(this, config.webhookSecretPrefix) };
    const deliveries = new DeliveriesTable(this, 'DeliveriesTable');
    const consumers = config.consumerAccounts === undefined ? {} : { consumerAccounts: config.consumerAccounts };
    const notifications = new NotificationBus(this, 'NotificationBus', {
      ...consumers,
      eventSource: config.eventSource,
      archiveRetentionDays: config.archiveRetentionDays,
      ...(multi === undefined ? {} : { eventBusName: names.eventBus }),
    });
    const schemas = new SchemaRegistry(this, 'EventSchemas', { ...consumers, registryName: `graph-relay-${config.stage}`, eventSource: config.eventSource });
    // Payloads live as long as archived events: a replayed event's payloadRef must still resolve.
    const payloads = new PayloadBucket(this, 'PayloadBucket', {
      expirationDays: config.archiveRetentionDays,
      retainData: config.retainData,
    });

    const intake = new GraphRelayFunction(this, 'Intake', {
      ...house,
      name: 'intake',
      memorySize: config.intakeMemoryMb,
      ...reservedConcurrencyOf(config.reservedConcurrency.intake),
      environment: {
        [ENV.deliveriesTable]: deliveries.table.tableName,
        [ENV.eventBus]: notifications.bus.eventBusName,
        [ENV.eventSource]: config.eventSource,
        [ENV.webhookSecretPrefix]: config.webhookSecretPrefix,
        [PAYLOAD_BUCKET_ENV]: payloads.bucket.bucketName,
      },
    });
    const intakeFn = intake.function;

    // Exactly the calls the intake makes: routing lookups, and one batched round of redelivery reads and writes.
    // BatchGetItem: routes by key, in the same round as the markers; Query: the integration registry (the
    // INTEGRATIONS partition, one small item per integration).
    connections.table.grant(intakeFn, 'dynamodb:BatchGetItem', 'dynamodb:Query');
    // UpdateItem: the refusal tally (refused requests per integration and day) that `doctor` reads.
    deliveries.table.grant(intakeFn, 'dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:UpdateItem');
    notifications.bus.grantPutEventsTo(intakeFn);
    payloads.grantWritePayloads(intake);
    graph.integrationSecrets.grantRead(intake);

    const webhook = new WebhookApi(this, 'WebhookApi', {
      intake: intakeFn,
      throttle: config.webhookThrottle,
      logRetention: config.logRetention,
      logRemovalPolicy,
      ...(multi === undefined ? {} : { healthRoute: true }),
    });

    // Behind the firewall, subscriptions must use the distribution's URL: the intake refuses the API's own.
    const edge = webAclArn === undefined ? undefined : new WebhookEdge(this, 'WebhookEdge', { api: webhook, intake: intakeFn, webAclArn });
    // In a multi-region stage, the stage's domain: Route 53 sends Graph to whichever region is healthy.
    const domain =
      multi === undefined
        ? undefined
        : new WebhookDomain(this, 'WebhookDomain', {
            api: webhook,
            domainName: multi.settings.webhookDomain,
            hostedZoneId: multi.settings.hostedZoneId,
            hostedZoneName: multi.settings.hostedZoneName,
            failover: multi.primary ? route53.Failover.PRIMARY : route53.Failover.SECONDARY,
          });
    const webhookBaseUrl = domain?.webhookBaseUrl ?? edge?.webhookBaseUrl ?? webhook.webhookBaseUrl;

    new IntakeAlarms(this, 'Alarms', { intake: intakeFn, webhookStage: webhook.stage });

    // After the API: recreated subscriptions point at its webhook URL (the function depends on the API, not back).
    const publishes = { bus: notifications.bus, eventSource: config.eventSource };
    const renewal = new RenewalSchedule(this, 'RenewalSchedule', {
      ...graph,
      publishes,
      webhookBaseUrl,
      intervalMinutes: config.renewalIntervalMinutes,
    });
    const renewalFn = renewal.function.function;

    const lifecycle = new LifecycleHandler(this, 'LifecycleHandler', {
      ...graph,
      publishes,
      webhookBaseUrl,
      ...reservedConcurrencyOf(config.reservedConcurrency.lifecycle),
    });

    const reconciler = new Reconciler(this, 'Reconciler', { ...graph, webhookBaseUrl, intervalMinutes: config.reconcileIntervalMinutes });
    const reconcileFn = reconciler.function.function;

    const resync = new Resync(this, 'Resync', { ...graph, publishes: { ...publishes, payloads }, everyHours: config.resyncEveryHours });
    const resyncFn = resync.function.function;
    // Lifecycle (missed, removed), renewal (recreated after a 404) and the reconciler (created) ask for catch-ups.
    for (const sender of [lifecycle.function.function, renewalFn, reconcileFn]) resync.addSender(sender);

    const routeIndex = new RouteIndex(this, 'RouteIndex', house);

    // Every region heartbeats the Graph writer lease; the functions that write to Graph act only while it holds it.
    const leaseTable =
      multi === undefined
        ? undefined
        : new WriterLeaseTable(this, 'WriterLeaseTable', {
            tableName: names.writerLeaseTable,
            retainData: config.retainData,
            ...(multi.primary ? { create: { replicaRegion: multi.settings.secondaryRegion, witnessRegion: multi.settings.witnessRegion } } : {}),
          }).table;
    const writerLease =
      multi === undefined || leaseTable === undefined
        ? undefined
        : new WriterLease(this, 'WriterLease', {
            ...house,
            region: multi.region,
            leaseTable,
            renewal: renewalFn,
            reconcile: reconcileFn,
            lifecycle: lifecycle.function.function,
            resyncQueue: resync.queue,
          });
    if (multi !== undefined && leaseTable !== undefined) {
      // They read the lease in its own table; their connections table grants already cover recording hand-offs
      // (lifecycle and resync: PutItem).
      for (const writer of [renewalFn, reconcileFn, lifecycle.function.function, resyncFn]) {
        for (const [name, value] of Object.entries(writerLeaseEnvironment(multi.region, leaseTable))) writer.addEnvironment(name, value);
        grantReadWriterLease(leaseTable, writer);
      }
    }

    // Every function that reads what a migration adds is updated only once the migration ran.
    const migration = new TableMigration(this, 'TableMigration', house);
    for (const dependent of [intakeFn, renewalFn, lifecycle.function.function, reconcileFn, resyncFn, routeIndex.function.function]) dependent.node.addDependency(migration.resource);

    const dashboard = new OperationsDashboard(this, 'Dashboard', {
      intake: intakeFn,
      webhookStage: webhook.stage,
      deadLetterQueues: {
        lifecycle: lifecycle.deadLetterQueue,
        'reconcile stream': reconciler.failures,
        'route index stream': routeIndex.failures,
        'renewal schedule': renewal.scheduled.deadLetterQueue,
        'reconcile schedule': reconciler.scheduled.deadLetterQueue,
        resync: resync.deadLetterQueue,
        ...(writerLease === undefined ? {} : { 'writer lease schedule': writerLease.scheduled.deadLetterQueue }),
        ...(resync.safetyNet === undefined ? {} : { 'resync safety net': resync.safetyNet.deadLetterQueue }),
      },
      resync: { function: resyncFn, queue: resync.queue },
      renewalIntervalMinutes: config.renewalIntervalMinutes,
      reconcileIntervalMinutes: config.reconcileIntervalMinutes,
    });

    // Last, so it reaches every alarm the constructs above made.
    const alarmTopic = new AlarmTopic(this, 'AlarmTopic', {
      ...(config.alarmEmail === undefined ? {} : { alarmEmail: config.alarmEmail }),
      ...(config.alarmTopicArn === undefined ? {} : { alarmTopicArn: config.alarmTopicArn }),
      retainData: config.retainData,
    });
    alarmTopic.notifyAllAlarmsIn(this);

    // Read by the operator CLI by these exact keys.
    new CfnOutput(this, 'WebhookBaseUrl', {
      value: webhookBaseUrl,
      description: 'notificationUrl of an integration = this value + its integrationId',
    });
    new CfnOutput(this, 'ConnectionsTableName', { value: connections.table.tableName });
    new CfnOutput(this, 'DeliveriesTableName', { value: deliveries.table.tableName });
    for (const [integrationId, provider] of Object.entries(config.integrations)) {
      new CfnOutput(this, webhookUrlOutputId(integrationId), {
        value: notificationUrl(webhookBaseUrl, integrationId),
        description: `notificationUrl of integration ${integrationId} (${provider})`,
      });
    }
    new CfnOutput(this, 'EventBusName', { value: notifications.bus.eventBusName });
    new CfnOutput(this, 'EventBusArn', { value: notifications.bus.eventBusArn });
    new CfnOutput(this, 'ArchiveName', {
      value: notifications.archive.archiveName,
      description: 'aws events start-replay --event-source-arn <ArchiveArn>; the archive keeps the relay\'s events',
    });
    new CfnOutput(this, 'ArchiveArn', { value: notifications.archive.archiveArn });
    new CfnOutput(this, 'SchemaRegistryName', {
      value: schemas.registry.attrRegistryName,
      description: 'EventBridge schema registry of the relay\'s events: aws schemas get-code-binding-source --registry-name <this>',
    });
    new CfnOutput(this, 'AlarmTopicArn', { value: alarmTopic.topic.topicArn, description: 'Every alarm of the stack, in ALARM and OK' });
    new CfnOutput(this, 'DashboardName', { value: dashboard.dashboard.dashboardName });
    new CfnOutput(this, 'EventSource', { value: config.eventSource });
    new CfnOutput(this, 'PayloadBucketName', {
      value: payloads.bucket.bucketName,
      description: 'Full detail of events carrying detail.payloadRef (s3:GetObject on payloadRef.key)',
    });
    new CfnOutput(this, 'WebhookSecretPrefix', { value: config.webhookSecretPrefix });
    new CfnOutput(this, 'IntakeFunctionName', { value: intakeFn.functionName });
    new CfnOutput(this, 'RenewalFunctionName', {
      value: renewalFn.functionName,
      description: 'Invoke to run a renewal now (the schedule runs it every few minutes)',
    });
    new CfnOutput(this, 'ResyncQueueUrl', {
      value: resync.queue.queueUrl,
      description: 'Where resyncs are asked for (graph-relay subscriptions resync): one JSON job per message (shared/resync/resync-job.ts)',
    });
    new CfnOutput(this, 'RenewalScheduleName', {
      value: renewal.scheduled.schedule.scheduleName,
      description: 'EventBridge Scheduler schedule (default group) invoking the renewal; scheduler:GetSchedule shows its State',
    });
    if (multi !== undefined && domain !== undefined) {
      new CfnOutput(this, 'RegionalWebhookBaseUrl', {
        value: webhook.webhookBaseUrl,
        description: `This region's own webhook API (the failover record sends ${multi.settings.webhookDomain} here while its health check passes${multi.primary ? '' : ' and the primary\'s fails'})`,
      });
      new CfnOutput(this, 'HealthCheckId', {
        value: domain.healthCheck.healthCheckId,
        description: 'Route 53 health check of this region\'s GET /health: aws route53 get-health-check-status --health-check-id <this>',
      });
      const replicaRegions = multi.primary ? [multi.settings.secondaryRegion] : [multi.settings.primaryRegion];
      new CfnOutput(this, 'SecretReplicaRegions', {
        value: replicaRegions.join(','),
        description: 'Regions the operator CLI replicates each integration secret to (Secrets Manager replicas), comma-separated',
      });
      // Read by doctor: both regions, and where the writer lease lives.
      new CfnOutput(this, 'PrimaryRegion', { value: multi.settings.primaryRegion });
      new CfnOutput(this, 'SecondaryRegion', { value: multi.settings.secondaryRegion });
      if (leaseTable !== undefined) {
        new CfnOutput(this, 'WriterLeaseTableName', { value: leaseTable.tableName, description: 'The Graph writer lease (multi-Region strongly consistent): pk LEASE, sk GRAPH_WRITER' });
      }
    }
  }
}

/** The stack's place in a multi-region stage, or undefined for a single-region one. */
function regionRoleOf(config: StageConfig, relayRegion: string | undefined): RegionRole | undefined {
  const settings = config.multiRegion;
  if ((settings === undefined) !== (relayRegion === undefined)) {
    throw new Error(`Stage "${config.stage}": the stack takes a relay region exactly when the stage sets multiRegion (composeGraphRelayApp does both).`);
  }
  if (settings === undefined || relayRegion === undefined) return undefined;
  if (relayRegion !== settings.primaryRegion && relayRegion !== settings.secondaryRegion) {
    throw new Error(`Stage "${config.stage}": region ${relayRegion} is neither the stage's primary (${settings.primaryRegion}) nor its secondary (${settings.secondaryRegion}).`);
  }
  return { region: relayRegion, primary: relayRegion === settings.primaryRegion, settings };
}
