/**
 * Public AWS list prices used by the cost model (bench/cost-model.ts), US East (N. Virginia), on-demand, without
 * free tier. AWS's own pricing pages cannot be reached from the machines this project is built on, so each price
 * was read on a dated public page that quotes it (listed in `source`); check them against
 * https://aws.amazon.com/pricing/ before relying on the result, and edit this file for another region.
 */
export interface AwsPrices {
  region: string;
  /** When these prices were collected (ISO date). */
  asOf: string;
  lambdaArmPerGbSecond: number;
  lambdaPerMillionRequests: number;
  httpApiPerMillionRequests: number;
  /** Custom events put on a bus, per million 64 KB chunks. */
  eventBridgePerMillionEvents: number;
  eventBridgeArchivePerGbProcessed: number;
  eventBridgeArchivePerGbMonth: number;
  dynamoDbPerMillionWriteUnits: number;
  dynamoDbPerMillionReadUnits: number;
  cloudWatchLogsPerGbIngested: number;
  cloudWatchLogsPerGbMonthStored: number;
  secretsManagerPerSecretMonth: number;
  secretsManagerPer10kCalls: number;
  cloudWatchAlarmPerMonth: number;
  cloudWatchDashboardPerMonth: number;
  cloudWatchCustomMetricPerMonth: number;
  kmsKeyPerMonth: number;
  /** Standard queue requests (send, receive, delete, each 64 KB chunk of a message one request). */
  sqsPerMillionRequests: number;
  /** Global tables (multi-Region eventual consistency), on-demand: each replica's write of a replicated item. */
  dynamoDbPerMillionReplicatedWriteUnits: number;
  /** Data transferred out to another AWS region (global-table replication). */
  interRegionTransferPerGb: number;
  /** Route 53 health check of an AWS endpoint, a month, and each optional feature (HTTPS, fast interval, …). */
  route53HealthCheckPerMonth: number;
  route53HealthCheckFeaturePerMonth: number;
  /** EventBridge Scheduler invocations beyond its free 14 million a month. */
  schedulerPerMillionInvocations: number;
  source: Record<string, string>;
}

export const US_EAST_1_PRICES: AwsPrices = {
  region: 'us-east-1',
  asOf: '2026-11-26',
  lambdaArmPerGbSecond: 0.0000133334,
  lambdaPerMillionRequests: 0.2,
  httpApiPerMillionRequests: 1.0,
  eventBridgePerMillionEvents: 1.0,
  eventBridgeArchivePerGbProcessed: 0.1,
  eventBridgeArchivePerGbMonth: 0.023,
  dynamoDbPerMillionWriteUnits: 0.625,
  dynamoDbPerMillionReadUnits: 0.125,
  cloudWatchLogsPerGbIngested: 0.5,
  cloudWatchLogsPerGbMonthStored: 0.03,
  secretsManagerPerSecretMonth: 0.4,
  secretsManagerPer10kCalls: 0.05,
  cloudWatchAlarmPerMonth: 0.1,
  cloudWatchDashboardPerMonth: 3.0,
  cloudWatchCustomMetricPerMonth: 0.3,
  kmsKeyPerMonth: 1.0,
  sqsPerMillionRequests: 0.4,
  dynamoDbPerMillionReplicatedWriteUnits: 0.625,
  interRegionTransferPerGb: 0.02,
  route53HealthCheckPerMonth: 0.5,
  route53HealthCheckFeaturePerMonth: 1.0,
  schedulerPerMillionInvocations: 1.0,
  source: {
    lambda: 'Arm, first 7.5 billion GB-s/month; requests $0.20/M (cloudchipr.com/blog/aws-lambda-pricing; aws.amazon.com/lambda/pricing)',
    httpApi: 'HTTP APIs, first 300 million/month, metered per 512 KB (aws.amazon.com/api-gateway/pricing; learnaws.org 2021, apigatewaycost.com)',
    eventBridge: 'custom events $1.00/M per 64 KB chunk; archive $0.10/GB processed + $0.023/GB-month (cloudburn.io, March 2026)',
    dynamoDb: 'on-demand after the November 2024 reduction: $0.625/M WRU, $0.125/M RRU (airbyte.com, July 2025)',
    cloudWatchLogs: 'Standard class: $0.50/GB ingested, $0.03/GB-month (c3x.dev, June 2026)',
    secretsManager: '$0.40/secret-month, $0.05 per 10,000 calls (hivebook.wiki)',
    kms: '$1/month per customer managed key, +$1/month per rotated backing key (aws.amazon.com/kms/pricing)',
    sqs: 'standard queue $0.40 per million requests beyond the first million, a request per 64 KB chunk (aws.amazon.com/sqs/pricing)',
    cloudWatch: 'standard alarm $0.10/month (c3x.dev); dashboard $3.00/month beyond 3 free; custom metric $0.30/month (first 10,000)',
    dynamoDbGlobalTables:
      'on-demand replicated writes $0.625/M rWRU, equal to single-region WRU since the November 2024 reduction of global-table prices by up to 67% (aws.amazon.com/dynamodb/pricing/on-demand; AWS News Blog, November 2024); inter-region transfer $0.02/GB (aws.amazon.com/ec2/pricing/on-demand, data transfer)',
    route53:
      'health check of an AWS endpoint $0.50/month, each optional feature (HTTPS, fast interval, string matching, latency) $1.00/month; alias queries to API Gateway free; about 15 checkers, 30 requests a minute at the 30 s interval (aws.amazon.com/route53/pricing; wewantcode.com Route 53 health checks lesson)',
    scheduler: 'EventBridge Scheduler $1.00 per million invocations after 14 million free a month (aws.amazon.com/eventbridge/pricing)',
  },
};
