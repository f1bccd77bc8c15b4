/** Tables for the terminal (markdown) and the JSON record of a bench run. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RichResult } from './rich';
import type { BundleReport } from './bundle';
import type { IoFloorResult } from './io-floor';
import { pairedRatios, type ColdStartResult } from './cold-start';
import { median, type Summary } from './stats';
import { PHASE_NAMES, type CallsSummary, type ColdCacheResult, type KindResult, type OutOfProcessKindResult, type OutOfProcessWarmResult, type WarmResult } from './warm';

export interface Environment {
  date: string;
  node: string;
  platform: string;
  arch: string;
  cpus: number;
  cpuModel: string;
  totalMemoryGiB: number;
  loadAverage: { start: number[]; end?: number[] };
  git: { commit: string; dirtyFiles: number } | undefined;
  argv: string[];
}

export interface TargetCheck {
  id: string;
  target: string;
  goal: string;
  measured: string;
  /** undefined: not measured in this run. */
  pass: boolean | undefined;
}

export interface ColdCallsRecord {
  variant: string;
  round: number;
  dynamodb: Record<string, number>;
  emulator: Record<string, number>;
  readRounds: number;
  writeRounds: number;
}

export interface BenchResult {
  environment: Environment;
  options: Record<string, unknown>;
  bundle?: BundleReport;
  cold?: ColdStartResult & { calls: ColdCallsRecord[] };
  proxyOverhead?: { directMs: unknown; proxiedMs: unknown; overheadP50Ms: number };
  /** Warm latency against `npm start` in its own process: section 3 and target 3. */
  warmOutOfProcess?: OutOfProcessWarmResult;
  /** Warm requests to the in-process stack behind the bench proxies: calls per request (section 4), phases, comparison. */
  warm?: WarmResult;
  /** parse + processNotifications with no I/O, per batch size. */
  logic?: { size: number; ms: Summary }[];
  ioFloor?: IoFloorResult[];
  warmCalls?: { steady: CallsSummary[]; all: CallsSummary[] };
  coldCache?: ColdCacheResult;
  coldCacheCalls?: CallsSummary[];
  /** 10-item rich batches vs plain ones, interleaved, on the in-process stack; JWKS fetches. */
  rich?: RichResult;
  targets: TargetCheck[];
  notes: string[];
}

export const ms = (value: number, digits = 1): string => (Number.isFinite(value) ? `${value.toFixed(digits)} ms` : 'n/a');
export const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KB`;
const ratio = (value: number): string => (Number.isFinite(value) ? `${value.toFixed(2)}×` : 'n/a');
export const verdict = (pass: boolean | undefined): string => (pass === undefined ? 'not run' : pass ? 'PASS' : 'MISSED');

/** A markdown table with columns padded for the terminal; numeric-looking cells are right-aligned. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => /^[-+]?[\d.,]+\s*(ms|KB|×|%)?$|^n\/a$/.test(r[i] ?? '')));
  const cell = (text: string, i: number) => (numeric[i] ? text.padStart(widths[i] ?? 0) : text.padEnd(widths[i] ?? 0));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => cell(c, i)).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (numeric[i] ? `${'-'.repeat(w + 1)}:` : `${'-'.repeat(w + 2)}`)).join('|')}|`;
  return [line(headers), rule, ...rows.map(line)].join('\n');
}

function kindLabel(kind: KindResult | CallsSummary | OutOfProcessKindResult): string {
  return kind.kind === 'handshake' ? 'handshake (floor, no I/O)' : `${kind.size} notification${kind.size === 1 ? '' : 's'}`;
}

export function renderReport(result: BenchResult): string {
  const out: string[] = [];
  const env = result.environment;
  out.push(
    `# graph-relay intake bench — ${env.date}`,
    '',
    `node ${env.node} on ${env.platform}/${env.arch}, ${env.cpus} CPU (${env.cpuModel}), ${env.totalMemoryGiB} GiB; load average at start ${env.loadAverage.start.map((l) => l.toFixed(2)).join(' ')}` +
      (env.loadAverage.end === undefined ? '' : `, at end ${env.loadAverage.end.map((l) => l.toFixed(2)).join(' ')}`) +
      (env.git === undefined ? '' : `; git ${env.git.commit.slice(0, 10)}${env.git.dirtyFiles > 0 ? ` (+${env.git.dirtyFiles} uncommitted files)` : ''}`),
    '',
    '## Targets',
    '',
    table(
      ['#', 'target', 'goal', 'measured', 'result'],
      result.targets.map((t) => [t.id, t.target, t.goal, t.measured, verdict(t.pass)]),
    ),
  );

  if (result.cold !== undefined) {
    const cold = result.cold;
    const bare = cold.variants.find((v) => v.name === 'bare');
    out.push(
      '',
      `## 1. Cold path, fresh process (${cold.rounds} interleaved rounds after ${cold.warmupRounds} warm-up, spawn → exit)`,
      '',
      table(
        ['handler', 'runs', 'wall p50', 'wall p90', 'wall min', 'vs bare p50', 'vs bare p90', 'paired ratio p50', 'in-process import+invoke p50', 'p90', 'node boot p50'],
        cold.variants.map((v) => {
          const paired = bare === undefined ? [] : pairedRatios(v, bare);
          return [
            v.name,
            String(v.runs.length),
            ms(v.wall.p50),
            ms(v.wall.p90),
            ms(v.wall.min),
            bare === undefined ? 'n/a' : ratio(v.wall.p50 / bare.wall.p50),
            bare === undefined ? 'n/a' : ratio(v.wall.p90 / bare.wall.p90),
            paired.length === 0 ? 'n/a' : ratio(median(paired)),
            ms(v.inProcess.p50, 2),
            ms(v.inProcess.p90, 2),
            ms(v.boot.p50),
          ];
        }),
      ),
      '',
      'wall = parent-measured spawn → exit of `node runner.mjs` (start-up, import, one invocation, exit); in-process = import() + handler() timed inside the child; node boot = child performance.now() at its first line. Paired ratio = median over rounds of (variant / bare of the same round).',
    );
    const byVariant = new Map<string, Map<string, number>>();
    for (const call of cold.calls) {
      const mix = callMix(call.dynamodb, call.emulator, call.readRounds, call.writeRounds);
      const mixes = byVariant.get(call.variant) ?? new Map<string, number>();
      mixes.set(mix, (mixes.get(mix) ?? 0) + 1);
      byVariant.set(call.variant, mixes);
    }
    out.push(
      '',
      table(
        ['handler', 'AWS calls per cold invocation (runs)'],
        [...byVariant].map(([variant, mixes]) => [variant, [...mixes].map(([mix, n]) => `${mix} (${n})`).join('; ')]),
      ),
    );
  }

  if (result.bundle !== undefined) {
    const b = result.bundle;
    out.push(
      '',
      `## 2. Bundle size (dist/functions/intake, built by buildFunctions() in ${ms(b.buildMs, 0)})`,
      '',
      table(
        ['what', 'size', 'AWS SDK code in it (metafile)'],
        [
          ['index.js (entry)', kb(b.entryBytes), kb(b.sdkBytesInEntry)],
          [`handshake path: entry + static imports (${b.handshakePathFiles.length} files)`, kb(b.handshakePathBytes), kb(b.sdkBytesOnHandshakePath)],
          [`whole folder (${b.fileCount} files)`, kb(b.totalBytes), kb(b.sdkBytesTotal)],
          ...b.files.slice(0, 4).map((f) => [`  largest: ${f.file}`, kb(f.bytes), kb(f.sdkBytes)]),
        ],
      ),
      '',
      `SDK markers in index.js: ${Object.entries(b.entryMarkers).map(([m, n]) => `'${m}' ×${n}`).join(', ')} → SDK ${b.sdkAbsentFromEntry ? 'absent from' : 'PRESENT in'} the entry.`,
      `Largest packages in the whole folder: ${b.topPackages.slice(0, 6).map((p) => `${p.name} ${kb(p.bytes)}`).join(', ')}.`,
      `Rich notifications' code (jose, decryption, tokens, keys): ${kb(b.richBytes.total)} in the folder, ${kb(b.richBytes.onHandshakePath)} on the handshake path ` +
        `(${b.richBytes.byInput.slice(0, 5).map((i) => `${i.name} ${kb(i.bytes)}`).join(', ')}).`,
    );
  }

  if (result.rich !== undefined) {
    const r = result.rich;
    out.push(
      '',
      `## Rich notifications, warm (in-process stack; ${r.requests} interleaved pairs after ${r.warmup} warm-up; ${r.batchSize} items across ${r.tenants} tenants, ${r.tenants} validation tokens per rich POST)`,
      '',
      table(
        ['batch', 'n', 'p50', 'p90', 'p99', 'max', 'mean'],
        [
          ['plain (baseline)', String(r.plain.n), ms(r.plain.p50, 2), ms(r.plain.p90, 2), ms(r.plain.p99, 2), ms(r.plain.max, 2), ms(r.plain.mean, 2)],
          ['rich: verify tokens + decrypt', String(r.rich.n), ms(r.rich.p50, 2), ms(r.rich.p90, 2), ms(r.rich.p99, 2), ms(r.rich.max, 2), ms(r.rich.mean, 2)],
        ],
      ),
      '',
      `JWKS fetches: ${r.jwksFetches.total} in ${r.warmup + r.requests} rich requests (${r.jwksFetches.measured} during the measured ones) = ${r.jwksFetchesPer1000.toFixed(2)} per 1,000.`,
    );
  }

  const w = result.warm;
  const o = result.warmOutOfProcess;
  if (o !== undefined) {
    out.push(
      '',
      `## 3. Warm latency on the local stack as \`npm start\` runs it (own process, DynamoDB Local directly; ${o.requestsPerKind} sequential HTTP requests per row after ${o.warmupRounds} warm-up rounds, rows interleaved; ${o.tenants} tenants, 1 integration)`,
      '',
      table(
        ['request', 'n', 'p50', 'p90', 'p99', 'max', 'mean', 'p50 − floor', 'p50 per notification', 'in-process p50', 'in-process p99'],
        o.kinds.map((k) => {
          const floor = o.kinds.find((f) => f.kind === 'handshake');
          const inProcess = w?.kinds.find((i) => i.kind === k.kind);
          return [
            kindLabel(k),
            String(k.latency.n),
            ms(k.latency.p50, 2),
            ms(k.latency.p90, 2),
            ms(k.latency.p99, 2),
            ms(k.latency.max, 2),
            ms(k.latency.mean, 2),
            k.kind === 'handshake' || floor === undefined ? '—' : ms(k.latency.p50 - floor.latency.p50, 2),
            k.size === 0 ? '—' : ms(k.latency.p50 / k.size, 3),
            inProcess === undefined ? 'n/a' : ms(inProcess.latency.p50, 2),
            inProcess === undefined ? 'n/a' : ms(inProcess.latency.p99, 2),
          ];
        }),
      ),
      '',
      `Client in the bench process, keep-alive HTTP to \`${o.command}\` (pid ${o.pid}, ${o.intakeUrl}), fresh notifications each request, every answer checked (200 + token, or 202 with all published). ` +
        'in-process = the same requests, interleaved round by round, to the stack inside the bench process behind the two DynamoDB proxies (the setup of section 4 and of the tables below).',
    );
  }
  if (w !== undefined) {
    if (o === undefined) {
      out.push(
        '',
        `## 3. Warm latency on the in-process local stack (${w.requestsPerKind} sequential HTTP requests per row after ${w.warmupRounds} warm-up rounds, rows interleaved; ${w.tenants} tenants, 1 integration)`,
        '',
        table(
          ['request', 'n', 'p50', 'p90', 'p99', 'max', 'mean'],
          w.kinds.map((k) => [kindLabel(k), String(k.latency.n), ms(k.latency.p50, 2), ms(k.latency.p90, 2), ms(k.latency.p99, 2), ms(k.latency.max, 2), ms(k.latency.mean, 2)]),
        ),
      );
    }
    const batches = w.kinds.filter((k) => k.size > 0);
    out.push(
      '',
      'Where the time goes, in-process run (p50 of each phase over its warm requests; from the client clock and the DynamoDB call tracer, which share the bench process and its clock; the `npm start` child cannot be traced without putting a proxy back in its path):',
      '',
      table(
        ['request', 'sent → 1st read', 'read round', 'read → 1st write (events, PutEvents)', 'write round', 'writes → answer', 'intake logic without I/O'],
        batches.flatMap((k) => {
          const phasesOf = (samples: typeof k.samples) => samples.flatMap((s) => (s.phases === undefined ? [] : [s.phases]));
          const row = (label: string, phases: ReturnType<typeof phasesOf>, logic: string) => [
            label,
            ...PHASE_NAMES.map((name) => ms(median(phases.map((p) => p[name])), 2)),
            logic,
          ];
          const logic = result.logic?.find((l) => l.size === k.size);
          const tail = k.samples.filter((s) => s.ms >= k.latency.p99);
          return [
            row(kindLabel(k), phasesOf(k.samples), logic === undefined ? 'n/a' : ms(logic.ms.p50, 2)),
            row(`  its slowest ${tail.length} (≥ p99)`, phasesOf(tail), logic === undefined ? 'n/a' : ms(logic.ms.max, 2)),
          ];
        }),
      ),
      '',
      'intake logic without I/O = parseNotificationBody + processNotifications with in-memory stores and the real EventBridgePublisher over a client that answers at once (bench/logic.ts); p50, and max on the slowest-requests rows.',
    );
    if (result.ioFloor !== undefined) {
      const floor = result.ioFloor;
      out.push(
        '',
        `I/O floor: the same calls made from the bench process with the product's adapters (DynamoDbDeliveriesStore, EventBridgePublisher) against the in-process stack's emulator, no HTTP and no intake, interleaved with the requests above; through the bench proxies as the in-process intake's calls go, and directly as the \`npm start\` child's go; p50 of ${floor[0]?.total.n ?? 0} runs (bench/io-floor.ts):`,
        '',
        table(
          ['batch', 'BatchGetItem round', 'PutEvents', 'BatchWriteItem round', 'sum p50', 'sum p99', 'in-process intake p50', 'read direct', 'write direct', 'direct sum p50', 'direct sum p99', '`npm start` intake p50'],
          floor.map((f) => {
            const warm = w.kinds.find((k) => k.size === f.size);
            const child = o?.kinds.find((k) => k.size === f.size);
            return [
              `${f.size} notification${f.size === 1 ? '' : 's'}`,
              ms(f.read.p50, 2),
              ms(f.publish.p50, 2),
              ms(f.write.p50, 2),
              ms(f.total.p50, 2),
              ms(f.total.p99, 2),
              warm === undefined ? 'n/a' : ms(warm.latency.p50, 2),
              ms(f.readDirect.p50, 2),
              ms(f.writeDirect.p50, 2),
              ms(f.totalDirect.p50, 2),
              ms(f.totalDirect.p99, 2),
              child === undefined ? 'n/a' : ms(child.latency.p50, 2),
            ];
          }),
        ),
      );
    }
    if (result.proxyOverhead !== undefined) {
      out.push(
        '',
        `Every DynamoDB call of the in-process run crosses two in-process pass-through proxies (call tracer → counting proxy) that production and the \`npm start\` child do not have: +${ms(result.proxyOverhead.overheadP50Ms, 2)} per call at p50 (GetItem direct vs proxied).`,
      );
    }
  }

  if (result.warmCalls !== undefined) {
    out.push(
      '',
      '## 4. Calls per request (in-process stack, counted by the DynamoDB counting proxy, the call tracer and the emulator)',
      '',
      'Warm, in-process run (registry, routes and secret cached):',
      '',
      callsTable(result.warmCalls.steady),
    );
    const reloads = result.warmCalls.all.filter((c) => c.registryReads > 0);
    out.push(
      '',
      reloads.length === 0
        ? `No integration registry read happened during the warm rounds (they took ${((result.warm?.durationMs ?? 0) / 1000).toFixed(1)} s).`
        : `Integration registry reads during the warm rounds (its background refresh; excluded above): ${reloads.map((c) => `${kindLabel(c)} ×${c.registryReads}`).join(', ')}.`,
    );
  }
  if (result.coldCacheCalls !== undefined && result.coldCache !== undefined) {
    const cc = result.coldCache;
    out.push(
      '',
      `Cold cache (first request to an integration this intake has not seen: ${cc.perSize} fresh integrations per size):`,
      '',
      callsTable(result.coldCacheCalls),
      '',
      table(
        ['first request', 'n', 'p50', 'max', 'warm in-process p50 of same size'],
        cc.kinds.map((k) => {
          const warm = result.warm?.kinds.find((w) => w.size === k.size);
          return [kindLabel(k), String(k.latency.n), ms(k.latency.p50, 2), ms(k.latency.max, 2), warm === undefined ? 'n/a' : ms(warm.latency.p50, 2)];
        }),
      ),
    );
  }

  if (result.notes.length > 0) out.push('', '## Notes', '', ...result.notes.map((n) => `- ${n}`));
  return `${out.join('\n')}\n`;
}

function callMix(dynamodb: Record<string, number>, emulator: Record<string, number>, readRounds: number, writeRounds: number): string {
  const all = { ...dynamodb, ...emulator };
  const entries = Object.entries(all).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return 'none';
  return `${entries.map(([op, n]) => `${op}×${n}`).join(' ')} [DynamoDB read rounds ${readRounds}, write rounds ${writeRounds}]`;
}

function callsTable(rows: readonly CallsSummary[]): string {
  const span = (r: { min: number; max: number }) => (r.min === r.max ? String(r.min) : `${r.min}–${r.max}`);
  return table(
    ['request', 'n', 'DynamoDB calls (requests)', 'read calls', 'read rounds (max)', 'write calls', 'write rounds (max)', 'PutEvents', '≠ ceil(events/10)', 'GetSecretValue (total)'],
    rows.map((c) => [
      kindLabel(c),
      String(c.requests),
      c.mixes.map((m) => (c.mixes.length === 1 ? m.mix : `${m.mix} (${m.requests})`)).join('; '),
      span(c.readCalls),
      String(c.readRoundsMax),
      span(c.writeCalls),
      String(c.writeRoundsMax),
      span(c.putEvents),
      String(c.putEventsOffTarget),
      String(c.getSecretValue),
    ]),
  );
}

/** Writes `bench/results/intake-<timestamp>.json` and `bench/results/latest.json`; returns the first path. */
export async function writeResults(dir: string, result: BenchResult): Promise<string> {
  await mkdir(dir, { recursive: true });
  const stamp = result.environment.date.replace(/[:.]/g, '-');
  const text = `${JSON.stringify(result, null, 2)}\n`;
  const file = join(dir, `intake-${stamp}.json`);
  await writeFile(file, text);
  await writeFile(join(dir, 'latest.json'), text);
  return file;
}
