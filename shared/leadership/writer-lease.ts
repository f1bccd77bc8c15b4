/**
 * The Graph writer lease: in a multi-region stage exactly one region (the holder) renews, reconciles, handles
 * lifecycle notifications and runs resyncs, i.e. writes to Graph. One human-readable item in the connections table
 * (a global table), `LEASE` / `GRAPH_WRITER`: `holder` (region), `epoch` (the fencing token, +1 on every change of
 * holder), `acquiredAt`, `renewedAt`, `expiresAt` (ISO) and `expiresAtMs`.
 *
 * Every region heartbeats (functions/writer-lease): the holder renews (`expiresAt = now + TTL`); another region takes
 * the lease only once `now > expiresAtMs + GRACE`, the grace covering replication lag and clock skew, so an old holder
 * has stopped (its fence refuses Graph requests past its expiry) before a new one starts. Each write is conditional on
 * the holder and epoch read (a consistent read), so of two heartbeats racing for the item one wins and the other
 * reports the lease held by another.
 */
import * as z from 'zod';
import { ENV } from '../config/env-names';
import { relayRegionOf } from '../config/relay-region';
import { ConfigError, loadEnv, stringOr, wholeNumber } from '../config/env-parsing';

export const WRITER_LEASE_KEY = { pk: 'LEASE', sk: 'GRAPH_WRITER' } as const;

export const WRITER_LEASE_DEFAULTS = {
  ttlSeconds: 180,
  graceSeconds: 60,
  /** The smallest values accepted (local drills run with a few seconds). */
  minTtlSeconds: 2,
  minGraceSeconds: 1,
} as const;

export interface WriterLeaseRecord {
  /** Region holding the lease. */
  holder: string;
  /** Fencing token: +1 on every change of holder, unchanged by renewals. */
  epoch: number;
  acquiredAt: string;
  renewedAt: string;
  expiresAt: string;
  expiresAtMs: number;
}

/** Where the lease item lives: the connections table (shared/leadership/dynamodb-writer-lease-store.ts) or a fake. */
export interface WriterLeaseStore {
  /** The item, read consistently; undefined when there is none. @throws StoreDataError when it does not parse. */
  read(): Promise<WriterLeaseRecord | undefined>;
  /**
   * Writes `next` if the item is still as `expected` was read (same holder and epoch; undefined: no item yet).
   * False when it is not: another heartbeat wrote first.
   */
  write(next: WriterLeaseRecord, expected: WriterLeaseRecord | undefined): Promise<boolean>;
}

export type HeartbeatResult =
  | { outcome: 'renewed'; lease: WriterLeaseRecord }
  | { outcome: 'acquired'; lease: WriterLeaseRecord; takeover: boolean; previousHolder?: string }
  | { outcome: 'held-by-other'; holder: string; expiresAt: string; lease?: WriterLeaseRecord };

export interface WriterLeaseSettings {
  ttlSeconds: number;
  graceSeconds: number;
}

/**
 * How long after taking the lease over a region's renewal reads each due subscription from Graph before renewing it:
 * twice the TTL. The previous holder's last Graph request ended before its lease expired (its fence aborts it then),
 * which was before the takeover; one that reached Graph with its answer lost left the subscription renewed at Graph
 * but due in the table. One TTL would cover that; the second leaves room for a first run that starts late.
 */
export function takeoverWindowMs(settings: Pick<WriterLeaseSettings, 'ttlSeconds'>): number {
  return 2 * settings.ttlSeconds * 1000;
}

export class WriterLease {
  constructor(
    private readonly store: WriterLeaseStore,
    readonly settings: WriterLeaseSettings,
  ) {}

  /** The lease as it is now (a consistent read). */
  read(): Promise<WriterLeaseRecord | undefined> {
    return this.store.read();
  }

  /**
   * One heartbeat of `region` at `now`: renews the lease it holds, takes one that is absent or past its expiry plus
   * the grace, and otherwise leaves it to its holder.
   */
  async heartbeat(region: string, now: number | Date): Promise<HeartbeatResult> {
    const at = typeof now === 'number' ? now : now.getTime();
    const current = await this.store.read();
    const iso = new Date(at).toISOString();
    const expiresAtMs = at + this.settings.ttlSeconds * 1000;
    const expiry = { renewedAt: iso, expiresAt: new Date(expiresAtMs).toISOString(), expiresAtMs };
    if (current !== undefined && current.holder !== region && at <= current.expiresAtMs + this.settings.graceSeconds * 1000) {
      return { outcome: 'held-by-other', holder: current.holder, expiresAt: current.expiresAt, lease: current };
    }
    const next: WriterLeaseRecord =
      current?.holder === region
        ? { ...current, ...expiry }
        : { holder: region, epoch: (current?.epoch ?? 0) + 1, acquiredAt: iso, ...expiry };
    if (!(await this.store.write(next, current))) {
      // Another heartbeat wrote between the read and the write: whoever it was holds the lease now.
      const winner = await this.store.read();
      return { outcome: 'held-by-other', holder: winner?.holder ?? 'unknown', expiresAt: winner?.expiresAt ?? '', ...(winner === undefined ? {} : { lease: winner }) };
    }
    if (current?.holder === region) return { outcome: 'renewed', lease: next };
    return { outcome: 'acquired', lease: next, takeover: current !== undefined, ...(current === undefined ? {} : { previousHolder: current.holder }) };
  }
}

export type WriterLeaseConfig =
  | { enabled: false; region?: string }
  | ({
      enabled: true;
      region: string;
      /** The table holding the lease item, when not the connections table (a strongly consistent global table). */
      leaseTable?: string;
    } & WriterLeaseSettings);

const fields = {
  mode: [ENV.writerLease, stringOr('off').pipe(z.string().trim().toLowerCase().pipe(z.enum(['on', 'off'])))],
  leaseTable: [ENV.writerLeaseTable, stringOr('')],
  ttlSeconds: [ENV.writerLeaseTtlSeconds, wholeNumber(WRITER_LEASE_DEFAULTS.minTtlSeconds, WRITER_LEASE_DEFAULTS.ttlSeconds)],
  graceSeconds: [ENV.writerLeaseGraceSeconds, wholeNumber(WRITER_LEASE_DEFAULTS.minGraceSeconds, WRITER_LEASE_DEFAULTS.graceSeconds)],
} as const;

/**
 * WRITER_LEASE (`on` / `off`, default off), the region (RELAY_REGION, else AWS_REGION: required when on), the lease's
 * table (WRITER_LEASE_TABLE_NAME, default the connections table), the TTL (default 180 s, at least 2) and the grace
 * (default 60 s, at least 1). A bad value fails fast in one line.
 */
export function loadWriterLeaseConfig(env: NodeJS.ProcessEnv = process.env): WriterLeaseConfig {
  const { mode, leaseTable, ttlSeconds, graceSeconds } = loadEnv('writer lease', fields, env);
  const region = relayRegionOf(env);
  if (mode === 'off') return { enabled: false, ...(region === undefined ? {} : { region }) };
  if (region === undefined) throw new ConfigError(`writer lease configuration is invalid: ${ENV.writerLease} is on but neither ${ENV.relayRegion} nor AWS_REGION names this region`);
  const table = leaseTable.trim();
  return { enabled: true, region, ttlSeconds, graceSeconds, ...(table === '' ? {} : { leaseTable: table }) };
}
