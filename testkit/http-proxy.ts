/** The pieces of the pass-through proxies that tests and benches put in front of DynamoDB Local. */
import { request, type Agent, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** The DynamoDB operation of a call, from its `X-Amz-Target` header (e.g. `BatchGetItem`). */
export function operationOf(req: IncomingMessage): string {
  return String(req.headers['x-amz-target'] ?? 'unknown').split('.').pop() ?? 'unknown';
}

/** Sends `req` on to `upstream` as it came and the answer back as it comes; 502 when upstream cannot be reached. */
export function forwardTo(upstream: URL, req: IncomingMessage, res: ServerResponse, agent?: Agent): void {
  const forward = request(
    { hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, ...(agent === undefined ? {} : { agent }) },
    (upstreamRes) => {
      res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
      upstreamRes.pipe(res);
    },
  );
  forward.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(forward);
}

/** Listens on a free loopback port, keeping idle connections `keepAliveMs`; resolves with the server's URL. */
export async function listenOnLoopback(server: Server, keepAliveMs: number): Promise<string> {
  server.keepAliveTimeout = keepAliveMs;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return `http://127.0.0.1:${port}`;
}
