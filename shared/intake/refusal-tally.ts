/**
 * Refused webhook requests (unknown integration, clientState not accepted), tallied per instance and reported at
 * most once per window and bucket: a flood of them costs one log line and one store write per window, not one per
 * request. Unknown integration ids share one bucket, so made-up ids cannot multiply the buckets.
 */
export const UNKNOWN_INTEGRATION_BUCKET = '(unknown)';

/** Why a request was refused; the answer is the same for all, the operator sees which. */
export type RefusalReason = 'unknown-integration' | 'clientstate-mismatch' | 'clientstate-unconfirmed' | 'no-webhook-secret';

export interface RefusalReport {
  /** The integration id, or `(unknown)` for ids that do not exist. */
  bucket: string;
  /** Requests refused since the last report of the bucket (this one included). */
  requests: number;
  /** Items in those requests. */
  items: number;
  reasons: Partial<Record<RefusalReason, number>>;
  /** For the unknown bucket: a few of the ids asked for (they passed the id syntax check). */
  sampleIds: string[];
  firstAt: string;
  lastAt: string;
}

interface Pending {
  requests: number;
  items: number;
  reasons: Partial<Record<RefusalReason, number>>;
  sampleIds: string[];
  firstAt: number;
  lastAt: number;
  reportedAt: number;
}

const MAX_SAMPLE_IDS = 5;
/** Buckets kept at most: integrations that exist are few; beyond this the least recent is forgotten. */
const MAX_BUCKETS = 1000;

export class RefusalTally {
  private readonly buckets = new Map<string, Pending>();
  private readonly now: () => number;
  /** The earliest time a bucket with unreported refusals may be reported (Infinity when none waits). */
  private nextDueAt = Number.POSITIVE_INFINITY;

  constructor(private readonly options: { windowSeconds: number; now?: () => number }) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Counts one refused request. Returns the report to log and store when the bucket's window has passed (the first
   * refusal of a bucket is reported at once), else undefined.
   */
  add(refusal: { integrationId: string; known: boolean; reason: RefusalReason; items: number }): RefusalReport | undefined {
    const now = this.now();
    const bucket = refusal.known ? refusal.integrationId : UNKNOWN_INTEGRATION_BUCKET;
    let pending = this.buckets.get(bucket);
    if (pending === undefined) {
      if (this.buckets.size >= MAX_BUCKETS) {
        const [leastRecent] = this.buckets.keys();
        if (leastRecent !== undefined) this.buckets.delete(leastRecent);
      }
      pending = { requests: 0, items: 0, reasons: {}, sampleIds: [], firstAt: now, lastAt: now, reportedAt: Number.NEGATIVE_INFINITY };
    }
    // Kept in order of last use: the bucket forgotten at the cap is the one refused least recently.
    this.buckets.delete(bucket);
    this.buckets.set(bucket, pending);
    if (pending.requests === 0) pending.firstAt = now;
    pending.requests += 1;
    pending.items += refusal.items;
    pending.reasons[refusal.reason] = (pending.reasons[refusal.reason] ?? 0) + 1;
    pending.lastAt = now;
    if (!refusal.known && !pending.sampleIds.includes(refusal.integrationId) && pending.sampleIds.length < MAX_SAMPLE_IDS) pending.sampleIds.push(refusal.integrationId);
    const dueAt = pending.reportedAt + this.options.windowSeconds * 1000;
    if (now < dueAt) {
      this.nextDueAt = Math.min(this.nextDueAt, dueAt);
      return undefined;
    }
    return this.report(bucket, pending, now);
  }

  /**
   * Reports of buckets whose refusals arrived inside a window that has passed since: called on every request, so a
   * flood that stops is still reported once (at the next request of any kind). Costs nothing until one is due.
   */
  takeDue(): RefusalReport[] {
    const now = this.now();
    if (now < this.nextDueAt) return [];
    this.nextDueAt = Number.POSITIVE_INFINITY;
    const reports: RefusalReport[] = [];
    for (const [bucket, pending] of this.buckets) {
      if (pending.requests === 0) continue;
      const dueAt = pending.reportedAt + this.options.windowSeconds * 1000;
      if (now >= dueAt) reports.push(this.report(bucket, pending, now));
      else this.nextDueAt = Math.min(this.nextDueAt, dueAt);
    }
    return reports;
  }

  private report(bucket: string, pending: Pending, now: number): RefusalReport {
    const report: RefusalReport = {
      bucket,
      requests: pending.requests,
      items: pending.items,
      reasons: pending.reasons,
      sampleIds: pending.sampleIds,
      firstAt: new Date(pending.firstAt).toISOString(),
      lastAt: new Date(pending.lastAt).toISOString(),
    };
    this.buckets.set(bucket, { requests: 0, items: 0, reasons: {}, sampleIds: [], firstAt: now, lastAt: now, reportedAt: now });
    return report;
  }
}
