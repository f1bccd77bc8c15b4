import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EmittedEvent } from './eventbridge';
import { FaultInjector, InvalidFaultError, type Fault } from './faults';
import {
  AwsServiceError,
  parseJsonObject,
  readBody,
  sendAwsError,
  sendJson,
  type AwsService,
  type OperationHandler,
} from './protocol';
import { S3Error, sendS3Error, type S3Service } from './s3';

/** Calls per operation name, including calls that failed. */
export class CallStats {
  readonly #counts = new Map<string, number>();
  readonly #retries = new Map<string, { calls: number; entries: number }>();

  record(operation: string): void {
    this.#counts.set(operation, (this.#counts.get(operation) ?? 0) + 1);
  }

  /**
   * A call the SDK marked as a retry (`amz-sdk-request: attempt=N`, N ≥ 2), with the entries it carried: when the
   * earlier attempt timed out on the client but went through here, those entries are now put twice.
   */
  recordRetry(operation: string, entries: number): void {
    const current = this.#retries.get(operation) ?? { calls: 0, entries: 0 };
    this.#retries.set(operation, { calls: current.calls + 1, entries: current.entries + entries });
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries(this.#counts);
  }

  retries(): Record<string, { calls: number; entries: number }> {
    return Object.fromEntries([...this.#retries].map(([operation, counts]) => [operation, { ...counts }]));
  }

  reset(): void {
    this.#counts.clear();
    this.#retries.clear();
  }
}

/** The attempt number the SDK sends in `amz-sdk-request` (`attempt=2; max=3`), 1 when absent. */
export function sdkAttempt(header: string | string[] | undefined): number {
  const match = /attempt=(\d+)/.exec(Array.isArray(header) ? header.join(';') : (header ?? ''));
  return match === null ? 1 : Number(match[1]);
}

export interface ServerDependencies {
  services: readonly AwsService[];
  /** The S3 REST API, path-style: any request signed for `s3`, or any path that is not a control route. */
  s3?: S3Service;
  faults: FaultInjector;
  stats: CallStats;
  events(eventBusName?: string): EmittedEvent[];
  clearEvents(): void;
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;

function methodNotAllowed(res: ServerResponse): void {
  sendJson(res, 405, { message: 'Method Not Allowed' });
}

/** The AWS endpoint: `POST /` dispatched on `X-Amz-Target`, with faults applied before the operation runs. */
async function handleAwsCall(req: IncomingMessage, res: ServerResponse, deps: ServerDependencies): Promise<void> {
  const target = req.headers['x-amz-target'];
  const separator = typeof target === 'string' ? target.indexOf('.') : -1;
  const prefix = typeof target === 'string' && separator > 0 ? target.slice(0, separator) : undefined;
  const service = prefix === undefined ? undefined : deps.services.find((candidate) => candidate.targetPrefix === prefix);
  const operation = typeof target === 'string' && separator > 0 ? target.slice(separator + 1) : '';
  const body = await readBody(req, service?.maxRequestBytes);
  const handler: OperationHandler | undefined = service?.operations.get(operation);
  if (service === undefined || handler === undefined) {
    throw new AwsServiceError('UnknownOperationException', `Operation ${String(target ?? '')} is not supported by the emulator.`);
  }
  deps.stats.record(operation);
  const input = parseJsonObject(body);
  if (sdkAttempt(req.headers['amz-sdk-request']) > 1) deps.stats.recordRetry(operation, Array.isArray(input['Entries']) ? input['Entries'].length : 0);
  const fault = deps.faults.consume(operation);
  if (fault?.mode === 'error') {
    throw new AwsServiceError(fault.errorCode ?? 'InternalFailure', fault.message ?? 'Injected fault', fault.status);
  }
  const gone = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) gone.abort();
  });
  const output = await handler(input, {
    failEntries: fault?.mode === 'partial' ? fault.failEntries : 0,
    endpoint: `http://${req.headers.host ?? 'localhost'}`,
    signal: gone.signal,
  });
  sendJson(res, 200, output, service.contentType === undefined ? {} : { 'content-type': service.contentType });
}

/** An S3 call: rendered in S3's XML error shape whatever fails, never in the JSON one. */
async function handleS3Call(req: IncomingMessage, res: ServerResponse, url: URL, s3: S3Service, deps: ServerDependencies): Promise<void> {
  try {
    const call = s3.operationOf(req, url);
    deps.stats.record(call.operation);
    const fault = deps.faults.consume(call.operation);
    if (fault?.mode === 'error') {
      req.resume();
      throw new S3Error(fault.errorCode ?? 'InternalError', fault.message ?? 'Injected fault', fault.status ?? 500);
    }
    await s3.handle(req, res, url, call);
  } catch (error) {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (error instanceof AwsServiceError) return sendS3Error(req, res, error);
    console.error('aws-emulator: unexpected S3 failure', error);
    sendS3Error(req, res, new S3Error('InternalError', 'We encountered an internal error. Please try again.', 500));
  }
}

/** SigV4 names the service in the credential scope (`…/<region>/s3/aws4_request`), in the header or a presigned URL. */
function signedForS3(req: IncomingMessage, url: URL): boolean {
  const scope = req.headers.authorization ?? url.searchParams.get('X-Amz-Credential') ?? '';
  return /\/s3\/aws4_request/.test(scope);
}

function controlRoutes(deps: ServerDependencies): Map<string, Route> {
  return new Map<string, Route>([
    [
      '/healthz',
      async (req, res) => {
        if (req.method !== 'GET') return methodNotAllowed(res);
        sendJson(res, 200, { status: 'ok' });
      },
    ],
    [
      '/_emulator/faults',
      async (req, res, url) => {
        if (req.method === 'GET') return sendJson(res, 200, deps.faults.list());
        if (req.method === 'DELETE') {
          deps.faults.clear(url.searchParams.get('operation') ?? undefined);
          return sendJson(res, 200, deps.faults.list());
        }
        if (req.method !== 'POST') return methodNotAllowed(res);
        let body: unknown;
        try {
          body = JSON.parse((await readBody(req)).toString('utf8'));
        } catch (error) {
          if (error instanceof AwsServiceError) throw error;
          throw new InvalidFaultError('The fault body must be JSON: a fault or a list of faults.');
        }
        deps.faults.inject(...((Array.isArray(body) ? body : [body]) as Fault[]));
        sendJson(res, 200, deps.faults.list());
      },
    ],
    [
      '/_emulator/events',
      async (req, res, url) => {
        if (req.method === 'DELETE') {
          deps.clearEvents();
          return sendJson(res, 200, []);
        }
        if (req.method !== 'GET') return methodNotAllowed(res);
        sendJson(res, 200, deps.events(url.searchParams.get('eventBusName') ?? undefined));
      },
    ],
    [
      '/_emulator/stats',
      async (req, res) => {
        if (req.method === 'DELETE') {
          deps.stats.reset();
          return sendJson(res, 200, {});
        }
        if (req.method !== 'GET') return methodNotAllowed(res);
        sendJson(res, 200, deps.stats.snapshot());
      },
    ],
    [
      '/_emulator/client-retries',
      async (req, res) => {
        if (req.method !== 'GET') return methodNotAllowed(res);
        sendJson(res, 200, deps.stats.retries());
      },
    ],
  ]);
}

/** Answers any failure without letting it escape: bad input must never take the process down. */
function sendFailure(res: ServerResponse, error: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // A refused oversized body is still streaming in; closing avoids reading the rest on a kept-alive socket.
  const headers: Record<string, string> = error instanceof AwsServiceError && error.status === 413 ? { connection: 'close' } : {};
  if (error instanceof AwsServiceError) return sendAwsError(res, error, headers);
  if (error instanceof InvalidFaultError) return sendJson(res, 400, { message: error.message });
  console.error('aws-emulator: unexpected failure', error);
  sendAwsError(res, new AwsServiceError('InternalFailure', 'The emulator failed to process the request.', 500));
}

export async function startServer(host: string, port: number, deps: ServerDependencies): Promise<RunningServer> {
  const routes = controlRoutes(deps);
  const server = createServer((req, res) => {
    // Async so that anything thrown, even parsing an odd request target, becomes an answer rather than a crash.
    const handle = async (): Promise<void> => {
      const url = new URL(req.url ?? '/', 'http://emulator');
      const route = routes.get(url.pathname);
      if (deps.s3 !== undefined && (signedForS3(req, url) || (route === undefined && url.pathname !== '/'))) {
        return handleS3Call(req, res, url, deps.s3, deps);
      }
      if (route !== undefined) return route(req, res, url);
      if (url.pathname === '/' && req.method === 'POST') return handleAwsCall(req, res, deps);
      sendJson(res, 404, { message: `No route for ${req.method ?? ''} ${url.pathname}` });
    };
    handle().catch((error: unknown) => sendFailure(res, error));
  });
  // SDK clients keep connections alive and reuse them: with Node's default of 5 s, a client reusing a socket just as
  // the server closes it gets ECONNRESET and retries. AWS endpoints keep idle connections longer than the SDK does.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  // Malformed HTTP never reaches the request handler; answer it instead of emitting an unhandled error.
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port: boundPort } = server.address() as AddressInfo;
  const reachableHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const urlHost = reachableHost.includes(':') ? `[${reachableHost}]` : reachableHost;
  return {
    url: `http://${urlHost}:${boundPort}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // SDK clients keep sockets alive; without this, close() waits for them to time out.
        server.closeAllConnections();
      }),
  };
}
