/**
 * A small notification endpoint for exercising the Graph fake: it answers validation requests by path
 * (`/echo` echoes the decoded token as text/plain, `/wrong` echoes something else, `/refuse` answers 403,
 * `/hang` never answers until closed) and records every request; other POSTs answer 202.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  /** The raw request target, query string as sent. */
  rawUrl: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface TestEndpoint {
  url: string;
  requests: RecordedRequest[];
  /** Requests to one path (without query). */
  requestsTo(path: string): RecordedRequest[];
  close(): Promise<void>;
}

export async function startTestEndpoint(): Promise<TestEndpoint> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const rawUrl = req.url ?? '/';
      const parsed = new URL(rawUrl, 'http://endpoint');
      const recorded: RecordedRequest = { method: req.method ?? '', path: parsed.pathname, rawUrl, query: parsed.searchParams, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(recorded);
      const token = parsed.searchParams.get('validationToken');
      if (parsed.pathname.startsWith('/hang')) return; // never answered
      if (parsed.pathname.startsWith('/refuse')) {
        res.writeHead(403).end();
        return;
      }
      if (token !== null) {
        const body = parsed.pathname.startsWith('/wrong') ? encodeURIComponent(token) : token;
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
        return;
      }
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    requestsTo: (path) => requests.filter((r) => r.path === path),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
