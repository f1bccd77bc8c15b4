/**
 * What doctor reads of a multi-region deployment: each regional stack's outputs, its deep `/health` asked directly,
 * its Route 53 health check, the writer lease, and the connections table's replication latency (CloudWatch).
 * Locally: the one stack's `/health` and the lease in the shared DynamoDB Local.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, GetMetricStatisticsCommand } from '@aws-sdk/client-cloudwatch';
import { GetHealthCheckStatusCommand, Route53Client } from '@aws-sdk/client-route-53';
import type { RegionsAccess, RegionsReport, RegionStatus, WriterLeaseView } from './commands/doctor-regions';

/** Seconds doctor waits for a region's `/health`: Route 53's own health checks give up after 4. */
const HEALTH_TIMEOUT_MS = 4_000;
const REPLICATION_WINDOW_MS = 15 * 60_000;

export interface RegionTopology {
  primary: string;
  secondary: string;
}

/** Asks `<base>/health` (the base without `webhook/`), as Route 53's checker does, and reads the answer's checks. */
export async function deepHealth(baseUrl: string, fetchFn: typeof fetch = fetch): Promise<RegionStatus['health']> {
  const started = performance.now();
  try {
    const response = await fetchFn(new URL('health', baseUrl), { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS), redirect: 'error' });
    const text = await response.text();
    const latencyMs = Math.round(performance.now() - started);
    const checks = parseChecks(text);
    if (response.status === 200) {
      const skipped = Object.entries(checks).filter(([, state]) => state === 'skipped').map(([name]) => name);
      return { status: 'ok', latencyMs, ...(skipped.length === 0 ? {} : { skipped }) };
    }
    const failing = Object.entries(checks).filter(([, state]) => state === 'failed').map(([name]) => name);
    return { status: 'failed', failing: failing.length > 0 ? failing : [`HTTP ${response.status}`], latencyMs };
  } catch (error) {
    return { status: 'unreachable', problem: error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error) };
  }
}

function parseChecks(text: string): Record<string, unknown> {
  try {
    const parsed = JSON.parse(text) as { checks?: unknown };
    return typeof parsed.checks === 'object' && parsed.checks !== null ? (parsed.checks as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The base URL of a region's own API (not the failover domain): `https://<api>.execute-api.<region>.amazonaws.com/`. */
export function regionalBase(regionalWebhookBaseUrl: string): string {
  return regionalWebhookBaseUrl.replace(/webhook\/?$/, '');
}

export interface AwsRegionsOptions {
  stackNameOf(region: string): string;
  topology: RegionTopology;
  connectionsTable: string;
  leaseGraceSeconds: number;
  readLease(): Promise<WriterLeaseView | undefined>;
  fetch?: typeof fetch;
}

export function awsRegionsAccess(options: AwsRegionsOptions): RegionsAccess {
  return {
    async report(): Promise<RegionsReport> {
      const { primary, secondary } = options.topology;
      const [regions, lease, replication] = await Promise.all([
        Promise.all([regionStatus(options, primary, 'primary'), regionStatus(options, secondary, 'secondary')]),
        options.readLease(),
        replicationLatency(options.connectionsTable, primary, secondary),
      ]);
      return { regions, ...(lease === undefined ? {} : { lease }), leaseGraceSeconds: options.leaseGraceSeconds, replication };
    },
  };
}

async function regionStatus(options: AwsRegionsOptions, region: string, role: RegionStatus['role']): Promise<RegionStatus> {
  const cloudFormation = new CloudFormationClient({ region });
  try {
    const { Stacks } = await cloudFormation.send(new DescribeStacksCommand({ StackName: options.stackNameOf(region) }));
    const outputs = Stacks?.[0]?.Outputs ?? [];
    const output = (key: string) => outputs.find((o) => o.OutputKey === key)?.OutputValue;
    const base = output('RegionalWebhookBaseUrl');
    const healthCheckId = output('HealthCheckId');
    const health: RegionStatus['health'] = base === undefined ? { status: 'unreachable', problem: 'the stack has no output RegionalWebhookBaseUrl: redeploy it' } : await deepHealth(regionalBase(base), options.fetch);
    return { region, role, health, dns: healthCheckId === undefined ? { problem: 'the stack has no output HealthCheckId' } : await dnsHealth(healthCheckId) };
  } catch (error) {
    return { region, role, health: { status: 'unreachable', problem: `stack ${options.stackNameOf(region)}: ${error instanceof Error ? error.message : String(error)}` } };
  } finally {
    cloudFormation.destroy();
  }
}

/** Route 53's checkers' last observations of the health check: how many report success. */
async function dnsHealth(healthCheckId: string): Promise<NonNullable<RegionStatus['dns']>> {
  const route53 = new Route53Client({ region: 'us-east-1' });
  try {
    const { HealthCheckObservations } = await route53.send(new GetHealthCheckStatusCommand({ HealthCheckId: healthCheckId }));
    const observations = HealthCheckObservations ?? [];
    return { checkers: observations.length, healthyCheckers: observations.filter((o) => o.StatusReport?.Status?.startsWith('Success') === true).length };
  } catch (error) {
    return { problem: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  } finally {
    route53.destroy();
  }
}

/** DynamoDB publishes ReplicationLatency in the source region, per receiving region. */
async function replicationLatency(tableName: string, source: string, receiving: string): Promise<RegionsReport['replication']> {
  const cloudWatch = new CloudWatchClient({ region: source });
  const end = new Date();
  try {
    const { Datapoints } = await cloudWatch.send(
      new GetMetricStatisticsCommand({
        Namespace: 'AWS/DynamoDB',
        MetricName: 'ReplicationLatency',
        Dimensions: [
          { Name: 'TableName', Value: tableName },
          { Name: 'ReceivingRegion', Value: receiving },
        ],
        StartTime: new Date(end.getTime() - REPLICATION_WINDOW_MS),
        EndTime: end,
        Period: 300,
        Statistics: ['Maximum'],
      }),
    );
    const values = (Datapoints ?? []).map((d) => d.Maximum).filter((v): v is number => typeof v === 'number');
    if (values.length === 0) return { problem: 'no ReplicationLatency datapoints in the last 15 minutes (no writes, or the replica is not active)' };
    return { maxLatencyMs: Math.round(Math.max(...values)) };
  } catch (error) {
    return { problem: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  } finally {
    cloudWatch.destroy();
  }
}

/** The local stack: its own `/health`, the lease in the shared DynamoDB Local, nothing to replicate. */
export function localRegionsAccess(options: { region: string; intakeUrl: string; leaseGraceSeconds: number; readLease(): Promise<WriterLeaseView | undefined>; fetch?: typeof fetch }): RegionsAccess {
  return {
    async report(): Promise<RegionsReport> {
      const [health, lease] = await Promise.all([deepHealth(`${options.intakeUrl}/`, options.fetch), options.readLease()]);
      return {
        regions: [{ region: options.region, role: 'local', health }],
        ...(lease === undefined ? {} : { lease }),
        leaseGraceSeconds: options.leaseGraceSeconds,
        replication: { none: 'one DynamoDB Local stands in for the global table: nothing is replicated' },
      };
    },
  };
}
