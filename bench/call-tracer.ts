/**
 * A pass-through HTTP proxy that records when each DynamoDB call starts and ends. The counting proxy
 * (testkit/dynamodb-proxy.ts) says how many calls a request made; these timings say how many of them waited for
 * another: calls whose time spans overlap were issued together and form one round.
 */
import { Agent, createServer, request } from 'node:http';

export interface TracedCall {
  operation: string;
  /** `performance.now()` of this process when the call arrived, so it lines up with the bench's own timings. */
  startMs: number;
  endMs: number;
}

export interface CallTracer {
  url: string;
  /** Calls completed since the last `take()`, in start order. */
  take(): TracedCall[];
  close(): Promise<void>;
}

export const READ_OPERATIONS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);
export const WRITE_OPERATIONS = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);

export async function startCallTracer(target: string): Promise<CallTracer> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true });
  let calls: TracedCall[] = [];
  const server = createServer((req, res) => {
    const operation = String(req.headers['x-amz-target'] ?? 'unknown').split('.').pop() ?? 'unknown';
    const startMs = performance.now();
    const forward = request(
      { hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    res.on('finish', () => calls.push({ operation, startMs, endMs: performance.now() }));
    forward.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(forward);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    take() {
      const taken = calls.sort((a, b) => a.startMs - b.startMs);
      calls = [];
      return taken;
    },
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Rounds of calls. A call that starts before any call of the current round has ended cannot have waited for
 * them, so it was issued alongside them (same round); one that starts after a call of the round ended may have
 * waited for it, so it opens the next round. This errs towards more rounds, never fewer.
 */
export function countRounds(calls: readonly TracedCall[]): number {
  const sorted = [...calls].sort((a, b) => a.startMs - b.startMs);
  let rounds = 0;
  let firstEnd = Number.NEGATIVE_INFINITY;
  for (const call of sorted) {
    if (call.startMs >= firstEnd) {
      rounds += 1;
      firstEnd = call.endMs;
    } else {
      firstEnd = Math.min(firstEnd, call.endMs);
    }
  }
  return rounds;
}
