/**
 * What stands between one region of the failover drill and what it shares with the other: its DynamoDB (which can
 * be cut off from the writer lease's table, as a region isolated from its multi-Region strongly consistent replicas
 * is refused), and Graph (every write it sends is recorded, so two writers would show).
 */
import { createServer, request } from 'node:http';
import { listenOnLoopback } from '../../testkit/http-proxy';

export interface LeasePartitionProxy {
  url: string;
  /** While set, every call naming the lease table answers 503 ServiceUnavailable; other tables are served. */
  setPartitioned(partitioned: boolean): void;
  close(): Promise<void>;
}

export async function startLeasePartitionProxy(target: string, leaseTable: string): Promise<LeasePartitionProxy> {
  const upstream = new URL(target);
  const mention = JSON.stringify(leaseTable);
  let partitioned = false;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (partitioned && body.includes(mention)) {
        const answer = JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#ServiceUnavailableException', message: 'Service unavailable (region partitioned from the lease table)' });
        res.writeHead(503, { 'content-type': 'application/x-amz-json-1.0', 'content-length': Buffer.byteLength(answer) });
        res.end(answer);
        return;
      }
      const forward = request(
        { hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
        (upstreamRes) => {
          res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
          upstreamRes.pipe(res);
        },
      );
      forward.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      forward.end(body);
    });
  });
  const url = await listenOnLoopback(server, 60_000);
  return {
    url,
    setPartitioned: (value) => {
      partitioned = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A Graph write one region sent: the method, the path, when it arrived, and Graph's status (0: never answered). */
export interface GraphWrite {
  region: string;
  method: string;
  path: string;
  at: number;
  status: number;
}

export interface GraphRecorder {
  url: string;
  writes(): GraphWrite[];
  close(): Promise<void>;
}

/**
 * A pass-through proxy in front of the Graph fake recording every POST, PATCH and DELETE of one region with the
 * status Graph answered: a request cut off with its sender (a killed region) never reaches Graph whole.
 */
export async function startGraphRecorder(target: string, region: string): Promise<GraphRecorder> {
  const upstream = new URL(target);
  const writes: GraphWrite[] = [];
  const server = createServer((req, res) => {
    const method = req.method ?? 'GET';
    const write = method === 'POST' || method === 'PATCH' || method === 'DELETE' ? { region, method, path: req.url ?? '', at: Date.now(), status: 0 } : undefined;
    if (write !== undefined) writes.push(write);
    const forward = request({ hostname: upstream.hostname, port: upstream.port, method, path: req.url, headers: req.headers }, (upstreamRes) => {
      if (write !== undefined) write.status = upstreamRes.statusCode ?? 0;
      res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
      upstreamRes.pipe(res);
    });
    forward.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    // A sender that goes away mid-request leaves Graph an incomplete request: abort it, as a dropped connection does.
    req.on('aborted', () => forward.destroy());
    req.pipe(forward);
  });
  const url = await listenOnLoopback(server, 60_000);
  return {
    url,
    writes: () => writes.map((w) => ({ ...w })),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
