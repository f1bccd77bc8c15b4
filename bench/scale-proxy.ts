/**
 * A pass-through proxy in front of DynamoDB Local for `npm run bench:scale`. Like testkit/dynamodb-proxy.ts it counts
 * calls per operation (X-Amz-Target); it also reads each call's body and answer, so it can tell:
 *
 * - the integration registry's own read (a Query of the `INTEGRATIONS` partition) from every other read;
 * - the read capacity DynamoDB reported (`ConsumedCapacity`, present when the caller asked for it), summed;
 * - when every call it forwarded has been answered (`idle()`), so a request's calls are attributed to it.
 *
 * It buffers each request body (small: the intake's calls are a few KB) and tees the answer to the caller as it
 * streams, parsing the copy afterwards.
 */
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { listenOnLoopback, operationOf } from '../testkit/http-proxy';

/** Reads as the product makes them; `registryQuery` is the IntegrationRegistry's Query of the INTEGRATIONS partition. */
export const READ_OPERATIONS = ['BatchGetItem', 'GetItem', 'Query', 'Scan', 'TransactGetItems'] as const;

export interface ScaleProxyStats {
  /** Calls per operation, registry Queries included under `Query`. */
  calls: Record<string, number>;
  /** Queries of the INTEGRATIONS partition (the registry's load and refreshes; also the CLI's listings). */
  registryQueries: number;
  /** Read calls other than registry queries. */
  otherReads: number;
  /** Read capacity DynamoDB reported, per operation (only calls that asked for ReturnConsumedCapacity report any). */
  readCapacity: Record<string, number>;
  /** Write capacity reported, per operation. */
  writeCapacity: Record<string, number>;
  /** Answers with an HTTP status other than 200, per operation. */
  errors: Record<string, number>;
  /** Keys asked for in BatchGetItem calls, per table (a request's route keys and redelivery markers). */
  batchGetKeys: Record<string, number>;
}

export interface ScaleProxy {
  url: string;
  stats(): ScaleProxyStats;
  reset(): void;
  /** Resolves once no forwarded call is waiting for its answer (the answer's copy parsed). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

const READS = new Set<string>(READ_OPERATIONS);

function emptyStats(): ScaleProxyStats {
  return { calls: {}, registryQueries: 0, otherReads: 0, readCapacity: {}, writeCapacity: {}, errors: {}, batchGetKeys: {} };
}

export function statsDelta(after: ScaleProxyStats, before: ScaleProxyStats): ScaleProxyStats {
  const diff = (a: Record<string, number>, b: Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const [key, value] of Object.entries(a)) {
      const d = value - (b[key] ?? 0);
      if (Math.abs(d) > 1e-9) out[key] = d;
    }
    return out;
  };
  return {
    calls: diff(after.calls, before.calls),
    registryQueries: after.registryQueries - before.registryQueries,
    otherReads: after.otherReads - before.otherReads,
    readCapacity: diff(after.readCapacity, before.readCapacity),
    writeCapacity: diff(after.writeCapacity, before.writeCapacity),
    errors: diff(after.errors, before.errors),
    batchGetKeys: diff(after.batchGetKeys, before.batchGetKeys),
  };
}

export const sumOf = (values: Record<string, number>): number => Object.values(values).reduce((s, v) => s + v, 0);

/** True for a Query whose key condition names the INTEGRATIONS partition. */
function isRegistryQuery(body: string): boolean {
  try {
    const input = JSON.parse(body) as { ExpressionAttributeValues?: Record<string, { S?: string }> };
    return Object.values(input.ExpressionAttributeValues ?? {}).some((v) => v?.S === 'INTEGRATIONS');
  } catch {
    return false;
  }
}

function batchGetKeysOf(body: string): Record<string, number> {
  try {
    const input = JSON.parse(body) as { RequestItems?: Record<string, { Keys?: unknown[] }> };
    return Object.fromEntries(Object.entries(input.RequestItems ?? {}).map(([table, request]) => [table, request.Keys?.length ?? 0]));
  } catch {
    return {};
  }
}

function capacityOf(body: Buffer, headers: IncomingHttpHeaders): number {
  try {
    const raw = headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
    const parsed = JSON.parse(raw.toString('utf8')) as { ConsumedCapacity?: { CapacityUnits?: number } | { CapacityUnits?: number }[] };
    const consumed = parsed.ConsumedCapacity;
    if (consumed === undefined) return 0;
    return (Array.isArray(consumed) ? consumed : [consumed]).reduce((s, c) => s + (c.CapacityUnits ?? 0), 0);
  } catch {
    return 0;
  }
}

export async function startScaleProxy(target: string): Promise<ScaleProxy> {
  const upstream = new URL(target);
  let stats = emptyStats();
  let inFlight = 0;
  let waiters: (() => void)[] = [];
  const settle = () => {
    inFlight -= 1;
    if (inFlight === 0) {
      const list = waiters;
      waiters = [];
      for (const resolve of list) resolve();
    }
  };
  const add = (map: Record<string, number>, key: string, value: number) => {
    map[key] = (map[key] ?? 0) + value;
  };

  const server = createServer((req, res) => {
    inFlight += 1;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      settle();
    };
    const operation = operationOf(req);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      add(stats.calls, operation, 1);
      if (READS.has(operation)) {
        if (operation === 'Query' && isRegistryQuery(body.toString('utf8'))) stats.registryQueries += 1;
        else stats.otherReads += 1;
      }
      if (operation === 'BatchGetItem') for (const [table, n] of Object.entries(batchGetKeysOf(body.toString('utf8')))) add(stats.batchGetKeys, table, n);
      const counted = stats;
      const forward = request(
        { hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
        (upstreamRes) => {
          res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
          const answer: Buffer[] = [];
          upstreamRes.on('data', (chunk: Buffer) => {
            answer.push(chunk);
            res.write(chunk);
          });
          upstreamRes.on('end', () => {
            // Counted into the stats object of the call's start, so a reset in between does not mix runs.
            if (upstreamRes.statusCode !== 200) add(counted.errors, operation, 1);
            const units = capacityOf(Buffer.concat(answer), upstreamRes.headers);
            if (units > 0) add(READS.has(operation) ? counted.readCapacity : counted.writeCapacity, operation, units);
            res.end();
            finish();
          });
          upstreamRes.on('error', () => {
            res.destroy();
            finish();
          });
        },
      );
      forward.on('error', () => {
        add(counted.errors, operation, 1);
        if (!res.headersSent) res.writeHead(502);
        res.end();
        finish();
      });
      forward.end(body);
    });
    req.on('error', () => finish());
  });
  const url = await listenOnLoopback(server, 65_000);
  return {
    url,
    stats: () => structuredClone(stats),
    reset: () => {
      stats = emptyStats();
    },
    idle: () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve))),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
