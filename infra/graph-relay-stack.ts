import { ArnFormat, CfnOutput, RemovalPolicy, Stack, Token, Validations, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { ENV, PAYLOAD_BUCKET_ENV } from '../shared/config/env-names';
import { notificationUrl } from '../shared/subscriptions/notification-url';
import { AlarmTopic } from './constructs/alarm-topic';
import { ConnectionsTable } from './constructs/connections-table';
import { DeliveriesTable } from './constructs/deliveries-table';
import { GraphRelayFunction } from './constructs/house-function';
import { IntakeAlarms } from './constructs/intake-alarms';
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
import { webhookUrlOutputId, type ReservedConcurrency, type StageConfig } from './stage-config';

export interface GraphRelayStackProps extends StackProps {
  readonly config: StageConfig;
  /**
   * The CLOUDFRONT-scope web ACL (WebhookFirewallStack, us-east-1) to put the webhook behind; required exactly
   * when the stage sets webhookFirewall.
   */
  readonly webAclArn?: string;
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
    const logRemovalPolicy = config.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    const connections = new ConnectionsTable(this, 'ConnectionsTable', { retainData: config.retainData });
    const deliveries = new DeliveriesTable(this, 'DeliveriesTable');
    const notifications = new NotificationBus(this, 'NotificationBus', {
      eventSource: config.eventSource,
      archiveRetentionDays: config.archiveRetentionDays,
      ...(config.consumerAccounts === undefined ? {} : { consumerAccounts: config.consumerAccounts }),
    });
    const schemas = new SchemaRegistry(this, 'EventSchemas', {
      registryName: `graph-relay-${config.stage}`,
      eventSource: config.eventSource,
      ...(config.consumerAccounts === undefined ? {} : { consumerAccounts: config.consumerAccounts }),
    });
    // Payloads live as long as archived events: a replayed event's payloadRef must still resolve.
    const payloads = new PayloadBucket(this, 'PayloadBucket', {
      expirationDays: config.archiveRetentionDays,
      retainData: config.retainData,
    });

    const intake = new GraphRelayFunction(this, 'Intake', {
      name: 'intake',
      memorySize: config.intakeMemoryMb,
      ...reservedConcurrencyOf(config.reservedConcurrency.intake),
      logRetention: config.logRetention,
      logRemovalPolicy,
      environment: {
        [ENV.connectionsTable]: connections.table.tableName,
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
    payloads.grantWritePayloads(intakeFn);
    Validations.of(intake).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::<PayloadBucket.Arn>/*]',
      reason:
        'The intake writes one object per oversized event under keys made at run time (integration, day, idempotency key, connection); s3:PutObject is the only action, on this bucket\'s objects only.',
    });

    // The operator CLI creates one secret per integration under the prefix, so none exists at deploy time.
    const integrationSecrets = this.formatArn({
      service: 'secretsmanager',
      resource: 'secret',
      resourceName: `${config.webhookSecretPrefix}*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    // cdk-nag names a finding by the ARN as synthesized: pseudo parameters, or the region (and its partition) when
    // the stack has one (a stage behind the firewall).
    const pseudo = (value: string, name: string) => (Token.isUnresolved(value) ? `<AWS::${name}>` : value);
    const integrationSecretsFinding = `AwsSolutions-IAM5[Resource::arn:${pseudo(this.partition, 'Partition')}:secretsmanager:${pseudo(this.region, 'Region')}:<AWS::AccountId>:secret:${config.webhookSecretPrefix}*]`;
    iam.Grant.addToPrincipal({
      grantee: intakeFn,
      actions: ['secretsmanager:GetSecretValue'],
      resourceArns: [integrationSecrets],
    });
    Validations.of(intake).acknowledge({
      id: integrationSecretsFinding,
      reason:
        'One secret per integration, created later by the operator CLI; the wildcard is bounded to this stage\'s integration prefix (and covers the random suffix Secrets Manager appends to ARNs).',
    });

    const webhook = new WebhookApi(this, 'WebhookApi', {
      intake: intakeFn,
      throttle: config.webhookThrottle,
      logRetention: config.logRetention,
      logRemovalPolicy,
    });

    // Behind the firewall, subscriptions must use the distribution's URL: the intake refuses the API's own.
    const edge = webAclArn === undefined ? undefined : new WebhookEdge(this, 'WebhookEdge', { api: webhook, intake: intakeFn, webAclArn });
    const webhookBaseUrl = edge?.webhookBaseUrl ?? webhook.webhookBaseUrl;

    new IntakeAlarms(this, 'Alarms', { intake: intakeFn, webhookStage: webhook.stage });

    // After the API: recreated subscriptions point at its webhook URL (the function depends on the API, not back).
    const renewal = new RenewalSchedule(this, 'RenewalSchedule', {
      connections,
      bus: notifications.bus,
      eventSource: config.eventSource,
      webhookSecretPrefix: config.webhookSecretPrefix,
      integrationSecretsArn: integrationSecrets,
      webhookBaseUrl,
      intervalMinutes: config.renewalIntervalMinutes,
      logRetention: config.logRetention,
      logRemovalPolicy,
    });
    const renewalFn = renewal.function.function;
    Validations.of(renewal.scheduled.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue of the renewal schedule\'s target (cdk-nag only recognises queue redrive policies); it alarms as soon as it holds a message.',
    });
    Validations.of(renewal.function).acknowledge({
      id: integrationSecretsFinding,
      reason:
        'Renewal reads the app credentials of every integration: one secret per integration, created later by the operator CLI; the wildcard is bounded to this stage\'s integration prefix (and covers the random suffix Secrets Manager appends).',
    });

    const lifecycle = new LifecycleHandler(this, 'LifecycleHandler', {
      connections,
      bus: notifications.bus,
      eventSource: config.eventSource,
      webhookSecretPrefix: config.webhookSecretPrefix,
      integrationSecretsArn: integrationSecrets,
      webhookBaseUrl,
      ...reservedConcurrencyOf(config.reservedConcurrency.lifecycle),
      logRetention: config.logRetention,
      logRemovalPolicy,
    });
    Validations.of(lifecycle.function).acknowledge({
      id: integrationSecretsFinding,
      reason:
        'Lifecycle handling reads the app credentials of whichever integration the event names: one secret per integration, created later by the operator CLI; the wildcard is bounded to this stage\'s integration prefix (and covers the random suffix Secrets Manager appends).',
    });
    Validations.of(lifecycle.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue: the lifecycle function\'s on-failure destination and its rule target\'s DLQ (cdk-nag only recognises queue redrive policies).',
    });

    const reconciler = new Reconciler(this, 'Reconciler', {
      connections,
      webhookSecretPrefix: config.webhookSecretPrefix,
      integrationSecretsArn: integrationSecrets,
      webhookBaseUrl,
      intervalMinutes: config.reconcileIntervalMinutes,
      logRetention: config.logRetention,
      logRemovalPolicy,
    });
    const reconcileFn = reconciler.function.function;
    Validations.of(reconciler.function).acknowledge({
      id: integrationSecretsFinding,
      reason:
        'The reconciler creates subscriptions for every integration and reads its app credentials and webhook secret: one secret per integration, created later by the operator CLI; the wildcard is bounded to this stage\'s integration prefix (and covers the random suffix Secrets Manager appends).',
    });
    Validations.of(reconciler.function).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'dynamodb:ListStreams, granted by the stream event source: Lambda needs it to poll the connections table\'s stream, and the action supports no resource-level restriction. Every other stream action is scoped to the table\'s stream ARN.',
    });
    Validations.of(reconciler.scheduled.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue of the reconcile schedule\'s target (cdk-nag only recognises queue redrive policies); it alarms as soon as it holds a message.',
    });
    Validations.of(reconciler.failures).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the failure destination of the stream event source mapping; a queue behind it would hold nothing new.',
    });

    const resync = new Resync(this, 'Resync', {
      connections,
      bus: notifications.bus,
      eventSource: config.eventSource,
      payloads,
      webhookSecretPrefix: config.webhookSecretPrefix,
      integrationSecretsArn: integrationSecrets,
      logRetention: config.logRetention,
      logRemovalPolicy,
      everyHours: config.resyncEveryHours,
    });
    const resyncFn = resync.function.function;
    if (resync.safetyNet !== undefined) {
      Validations.of(resync.safetyNet.deadLetterQueue).acknowledge({
        id: 'AwsSolutions-SQS3',
        reason:
          'This queue is itself the dead-letter queue of the resync safety net\'s schedule target (cdk-nag only recognises queue redrive policies); it alarms as soon as it holds a message.',
      });
    }
    // Lifecycle (missed, removed), renewal (recreated after a 404) and the reconciler (created) ask for catch-ups.
    for (const sender of [lifecycle.function.function, renewalFn, reconcileFn]) resync.addSender(sender);
    Validations.of(resync.function).acknowledge({
      id: integrationSecretsFinding,
      reason:
        'A resync reads the app credentials of whichever integration the job names: one secret per integration, created later by the operator CLI; the wildcard is bounded to this stage\'s integration prefix (and covers the random suffix Secrets Manager appends).',
    });
    Validations.of(resync.function).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::<PayloadBucket.Arn>/*]',
      reason:
        'A resync writes one object per oversized event under keys made at run time, as the intake does; s3:PutObject is the only action, on this bucket\'s objects only.',
    });

    const routeIndex = new RouteIndex(this, 'RouteIndex', { connections, logRetention: config.logRetention, logRemovalPolicy });
    Validations.of(routeIndex.function).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'dynamodb:ListStreams, granted by the stream event source: Lambda needs it to poll the connections table\'s stream, and the action supports no resource-level restriction. Every other stream action is scoped to the table\'s stream ARN.',
    });
    Validations.of(routeIndex.failures).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the failure destination of the route index\'s stream event source mapping; a queue behind it would hold nothing new.',
    });

    // Every function that reads what a migration adds is updated only once the migration ran.
    const migration = new TableMigration(this, 'TableMigration', { connections, logRetention: config.logRetention, logRemovalPolicy });
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
  }
}
