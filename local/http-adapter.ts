import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { HEALTH_ROUTE_KEY } from '../shared/health/health-path';
import { bodyTooLarge, isHealthPath, webhookPathSegment } from '../shared/intake/webhook-request';

export type HttpApiHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

/**
 * Serves `handler` as API Gateway would the routes `ANY /webhook/{integrationId}` and `GET /health` (the intake's
 * deep health check), plus `/healthz` (the adapter's own liveness): one request at a time per connection, never
 * throwing. `log` gets one line per request the handler answered.
 */
export async function serveHttpApi(handler: HttpApiHandler, options: { port: number; host: string; log?: ((line: string) => void) | undefined }): Promise<Server> {
  const { log } = options;
  const server = createServer((req, res) => {
    void (async () => {
      const path = requestUrl(req.url)?.pathname;
      if (path === undefined) {
        // API Gateway refuses such a request before any integration runs; it is the client's error, not ours.
        writeResult(res, { statusCode: 400, headers: { 'content-type': 'application/json' }, body: '{"error":"malformed request target"}' });
        return;
      }
      if (path === '/healthz') {
        writeResult(res, { statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"status":"ok"}' });
        return;
      }
      if (isHealthPath(path)) {
        // The intake's deep health check, as API Gateway's `GET /health` route sends it; nothing is read of a body.
        req.resume();
        const started = performance.now();
        const result = await handler(await toHttpApiEvent(req, Buffer.alloc(0), undefined));
        writeResult(res, result);
        log?.(`${req.method} ${path} ${result.statusCode} ${(performance.now() - started).toFixed(1)} ms`);
        return;
      }
      const integrationId = webhookPathSegment(path);
      if (integrationId === undefined) {
        writeResult(res, { statusCode: 404, headers: { 'content-type': 'application/json' }, body: '{"error":"not found: POST /webhook/{integrationId}"}' });
        return;
      }
      let read: ReadBody;
      try {
        read = await readBody(req);
      } catch (error) {
        // The rest of the body was never read, so this connection cannot carry another request: closed after the
        // answer, a keep-alive client opens a new one instead of waiting on it.
        writeResult(res, { statusCode: 400, headers: { 'content-type': 'application/json', connection: 'close' }, body: JSON.stringify({ error: String(error) }) });
        return;
      }
      if ('tooLarge' in read) {
        // The handler's own answer, so that either path refuses alike; closed after it, so that a sender that ignores
        // the limit starts its next request on a new connection.
        writeResult(res, { ...read.tooLarge, headers: { ...read.tooLarge.headers, connection: 'close' } });
        return;
      }
      const started = performance.now();
      const result = await handler(await toHttpApiEvent(req, read.body, integrationId));
      writeResult(res, result);
      log?.(`${req.method} ${path} ${result.statusCode} ${(performance.now() - started).toFixed(1)} ms`);
    })().catch((error: unknown) => {
      // The handler never throws; this guards the adapter itself so one request cannot take the server down.
      if (!res.headersSent) writeResult(res, { statusCode: 500, body: JSON.stringify({ error: String(error) }) });
      else res.destroy();
    });
  });
  // Idle keep-alive connections stay open longer than clients keep them (API Gateway's own idle timeout is 60 s):
  // with Node's default of 5 s, a client reusing a socket just as the server closes it gets "socket hang up".
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return server;
}

/**
 * The request target as a URL, or `undefined` when it cannot be one (`POST http://[ HTTP/1.1` reaches the server:
 * Node checks the characters of a target, not that it parses).
 */
export function requestUrl(target: string | undefined): URL | undefined {
  try {
    return new URL(target ?? '/', 'http://localhost');
  } catch {
    return undefined;
  }
}

/**
 * Turns a Node HTTP request into an API Gateway HTTP API (payload 2.0) event for the route `ANY /webhook/{integrationId}`,
 * or `GET /health` for the health path.
 */
export async function toHttpApiEvent(req: IncomingMessage, body: Buffer, integrationId: string | undefined): Promise<APIGatewayProxyEventV2> {
  const url = requestUrl(req.url) ?? new URL('/', 'http://localhost');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const queryStringParameters: Record<string, string> = {};
  for (const [name, value] of url.searchParams) {
    queryStringParameters[name] = queryStringParameters[name] === undefined ? value : `${queryStringParameters[name]},${value}`;
  }
  const method = req.method ?? 'GET';
  const routeKey = isHealthPath(url.pathname) ? HEALTH_ROUTE_KEY : 'ANY /webhook/{integrationId}';
  const now = Date.now();
  const textual = /^(application\/json|text\/)/.test(headers['content-type'] ?? 'application/json');
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    ...(url.search.length > 1 ? { queryStringParameters } : {}),
    ...(integrationId !== undefined ? { pathParameters: { integrationId } } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers['host'] ?? 'localhost',
      domainPrefix: 'localhost',
      http: {
        method,
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: new Date(now).toUTCString(),
      timeEpoch: now,
    },
    ...(body.length > 0 ? { body: textual ? body.toString('utf8') : body.toString('base64'), isBase64Encoded: !textual } : { isBase64Encoded: false }),
  };
}

/** The body, or the intake's 413 answer once it is over the intake's body limit. */
type ReadBody = { body: Buffer } | { tooLarge: APIGatewayProxyStructuredResultV2 };

/**
 * Reads the body up to the intake's limit (shared/intake/webhook-request.ts). Past it, the rest is read and dropped,
 * so memory stays bounded: the sender is not cut off mid-upload (its answer would be lost to a reset), and the answer
 * names the body's whole size, as the handler's does.
 */
async function readBody(req: IncomingMessage): Promise<ReadBody> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (bodyTooLarge(size) === undefined) chunks.push(chunk as Buffer);
    else chunks.length = 0;
  }
  const tooLarge = bodyTooLarge(size);
  return tooLarge === undefined ? { body: Buffer.concat(chunks) } : { tooLarge };
}

export function writeResult(res: ServerResponse, result: APIGatewayProxyStructuredResultV2): void {
  const body = result.body === undefined ? Buffer.alloc(0) : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');
  res.writeHead(result.statusCode ?? 200, { ...(result.headers ?? {}), 'content-length': String(body.length) });
  res.end(body);
}
