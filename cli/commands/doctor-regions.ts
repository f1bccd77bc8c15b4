/**
 * doctor's view of a multi-region deployment: each region's deep health and DNS health check, which region holds
 * the Graph writer lease, and how far the connections table's replication lags. A single-region deployment has no
 * such report and gets no such checks.
 */
import type { Check as RegionCheck } from './check';

/** One region as doctor found it. */
export interface RegionStatus {
  region: string;
  /** `local`: a local stack, which knows only itself. */
  role: 'primary' | 'secondary' | 'local';
  /** The region's own `/health` (table, secret, bus), asked directly, not through DNS. */
  /** `skipped`: checks with nothing to check yet (no integration: no secret to read). */
  health: { status: 'ok'; latencyMs: number; skipped?: string[] } | { status: 'failed'; failing: string[]; latencyMs: number } | { status: 'unreachable'; problem: string };
  /** Route 53's health check of the region: how many of its checkers see it healthy; undefined where there is none (locally). */
  dns?: { healthyCheckers: number; checkers: number } | { problem: string };
}

/** The writer lease as its table holds it. */
export interface WriterLeaseView {
  holder: string;
  epoch: number;
  renewedAt: string;
  expiresAt: string;
}

export interface RegionsReport {
  regions: RegionStatus[];
  /** Undefined: no lease item yet (no heartbeat ever ran). */
  lease?: WriterLeaseView;
  /** Seconds past expiry before another region may take the lease. */
  leaseGraceSeconds: number;
  /** The connections table's replication latency (CloudWatch ReplicationLatency, the last 15 minutes' maximum), or why it is not known. */
  replication: { maxLatencyMs: number } | { none: string } | { problem: string };
}

export interface RegionsAccess {
  /** Undefined for a single-region deployment. */
  report(): Promise<RegionsReport | undefined>;
}

const RUNBOOK = 'README, "Regional outage"';

export function regionChecks(report: RegionsReport, now: Date): RegionCheck[] {
  return [...report.regions.map(regionCheck), leaseCheck(report, now), replicationCheck(report)];
}

function regionCheck(status: RegionStatus): RegionCheck {
  const check = `region ${status.region} (${status.role})`;
  const dns = dnsText(status.dns);
  const { health } = status;
  if (health.status === 'unreachable') {
    return { check, ok: false, detail: `/health cannot be reached (${health.problem})${dns}`, fix: `Graph's deliveries go to the other region while this lasts; see ${RUNBOOK}` };
  }
  if (health.status === 'failed') {
    return {
      check,
      ok: false,
      detail: `/health fails: ${health.failing.join(', ')}${dns}`,
      latencyMs: health.latencyMs,
      fix: `the region cannot verify, route or publish; Route 53 sends Graph to the other region. Look at the intake's log for the cause (${RUNBOOK})`,
    };
  }
  const dnsBad = status.dns !== undefined && ('problem' in status.dns || status.dns.healthyCheckers * 2 < status.dns.checkers);
  return {
    check,
    ok: true,
    ...(dnsBad ? { warning: true } : {}),
    detail: `/health ok (${okChecks(health.skipped ?? [])})${dns}`,
    latencyMs: health.latencyMs,
    ...(dnsBad ? { fix: 'the region answers doctor but not Route 53\'s checkers: check the custom domain and the health check\'s path' } : {}),
  };
}

function okChecks(skipped: readonly string[]): string {
  const passed = ['table', 'secret', 'bus'].filter((name) => !skipped.includes(name));
  return skipped.length === 0 ? passed.join(', ') : `${passed.join(', ')}; ${skipped.join(', ')} not checked: no integration yet`;
}

function dnsText(dns: RegionStatus['dns']): string {
  if (dns === undefined) return '';
  if ('problem' in dns) return `; DNS health check unknown (${dns.problem})`;
  return `; DNS health check: ${dns.healthyCheckers} of ${dns.checkers} checkers see it healthy`;
}

function leaseCheck(report: RegionsReport, now: Date): RegionCheck {
  const check = 'Graph writer lease';
  const { lease } = report;
  if (lease === undefined) {
    return { check, ok: false, detail: 'no region has ever held it: renewal, reconcile, lifecycle handling and resync do nothing', fix: 'check that the writer-lease function runs every minute in each region (its schedule and its errors)' };
  }
  const left = Date.parse(lease.expiresAt) - now.getTime();
  const renewedAgo = now.getTime() - Date.parse(lease.renewedAt);
  const primary = report.regions.find((r) => r.role === 'primary')?.region;
  const held = `held by ${lease.holder} (epoch ${lease.epoch}), renewed ${seconds(renewedAgo)} ago`;
  if (left + report.leaseGraceSeconds * 1000 < 0) {
    return {
      check,
      ok: false,
      detail: `expired ${seconds(-left)} ago (was ${held}): no region writes to Graph, subscriptions are not renewed`,
      fix: 'the writer-lease function fails in every region: look at its errors (table access, the lease table\'s replicas)',
    };
  }
  if (left < 0) return { check, ok: true, warning: true, detail: `${held}, expired ${seconds(-left)} ago: another region takes it within ${report.leaseGraceSeconds} s` };
  if (primary !== undefined && lease.holder !== primary) {
    return { check, ok: true, warning: true, detail: `${held}, expires in ${seconds(left)}: the secondary writes to Graph since a failover`, fix: `nothing is needed; to move it back, see ${RUNBOOK}` };
  }
  return { check, ok: true, detail: `${held}, expires in ${seconds(left)}` };
}

function replicationCheck(report: RegionsReport): RegionCheck {
  const check = 'connections table replication';
  const { replication } = report;
  if ('none' in replication) return { check, ok: true, detail: replication.none };
  if ('problem' in replication) return { check, ok: true, warning: true, detail: `lag unknown: ${replication.problem}` };
  const slow = replication.maxLatencyMs > report.leaseGraceSeconds * 1000;
  return {
    check,
    ok: true,
    ...(slow ? { warning: true, fix: 'a failover now could act on connection changes not yet replicated; they are caught by the next full reconcile' } : {}),
    detail: `lag at most ${replication.maxLatencyMs} ms over the last 15 minutes`,
  };
}

function seconds(ms: number): string {
  return ms < 600_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`;
}
