/**
 * A pass-through HTTP proxy that records when each DynamoDB call starts and ends. The counting proxy
 * (testkit/dynamodb-proxy.ts) says how many calls a request made; these timings say how many of them waited for
 * another: calls whose time spans overlap were issued together and form one round.
 */
import { Agent, createServer } from 'node:http';
import { forwardTo, listenOnLoopback, operationOf } from '../testkit/http-proxy';

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
    const operation = operationOf(req);
    const startMs = performance.now();
    res.on('finish', () => calls.push({ operation, startMs, endMs: performance.now() }));
    forwardTo(upstream, req, res, agent);
  });
  const url = await listenOnLoopback(server, 60_000);
  return {
    url,
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
