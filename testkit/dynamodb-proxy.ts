import { createServer } from 'node:http';
import { forwardTo, listenOnLoopback, operationOf } from './http-proxy';

export interface DynamoDbProxy {
  url: string;
  /** Calls per DynamoDB operation (from `X-Amz-Target`), e.g. { BatchGetItem: 1 }. */
  stats(): Record<string, number>;
  resetStats(): void;
  /** While down, every call answers 503 ServiceUnavailable, as a DynamoDB outage does. */
  setDown(down: boolean): void;
  close(): Promise<void>;
}

/**
 * A pass-through HTTP proxy in front of DynamoDB Local that counts calls per operation and can simulate an
 * outage. Tests and the benchmark use it to observe the product's DynamoDB traffic from outside the process.
 */
export async function startDynamoDbProxy(target: string): Promise<DynamoDbProxy> {
  const upstream = new URL(target);
  let counts: Record<string, number> = {};
  let down = false;
  const server = createServer((req, res) => {
    const operation = operationOf(req);
    counts[operation] = (counts[operation] ?? 0) + 1;
    if (down) {
      req.resume();
      const body = JSON.stringify({
        __type: 'com.amazonaws.dynamodb.v20120810#ServiceUnavailableException',
        message: 'Service unavailable (simulated outage)',
      });
      res.writeHead(503, { 'content-type': 'application/x-amz-json-1.0', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    forwardTo(upstream, req, res);
  });
  const url = await listenOnLoopback(server, 60_000);
  return {
    url,
    stats: () => ({ ...counts }),
    resetStats: () => {
      counts = {};
    },
    setDown: (value) => {
      down = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
