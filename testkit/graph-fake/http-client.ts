/** The fake's outbound HTTP (validation requests and notification deliveries), with exact headers and a hard timeout. */
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';

export interface OutboundResult {
  /** 0 when no HTTP response arrived (timeout, connection refused, reset). */
  status: number;
  body: string;
  contentType: string | undefined;
  durationMs: number;
  timedOut: boolean;
  error?: string;
}

const MAX_RESPONSE_BYTES = 64 * 1024;

export class OutboundClient {
  private readonly httpAgent = new http.Agent({ keepAlive: true });
  private readonly httpsAgent = new https.Agent({ keepAlive: true });

  post(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<OutboundResult> {
    const started = performance.now();
    const elapsed = () => performance.now() - started;
    return new Promise((resolve) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (result: Omit<OutboundResult, 'durationMs'>) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ ...result, durationMs: elapsed() });
      };
      let target: URL;
      try {
        target = new URL(url);
      } catch {
        finish({ status: 0, body: '', contentType: undefined, timedOut: false, error: `invalid URL ${url}` });
        return;
      }
      const isHttps = target.protocol === 'https:';
      const payload = Buffer.from(body, 'utf8');
      const request = (isHttps ? https : http).request(target, {
        method: 'POST',
        agent: isHttps ? this.httpsAgent : this.httpAgent,
        headers: { ...headers, 'content-length': String(payload.length) },
      });
      timer = setTimeout(() => {
        request.destroy();
        finish({ status: 0, body: '', contentType: undefined, timedOut: true, error: `no response within ${timeoutMs} ms` });
      }, timeoutMs);
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= MAX_RESPONSE_BYTES) chunks.push(chunk);
        });
        response.on('end', () =>
          finish({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), contentType: response.headers['content-type'], timedOut: false }),
        );
        response.on('error', (error) => finish({ status: 0, body: '', contentType: undefined, timedOut: false, error: error.message }));
      });
      request.on('error', (error) => finish({ status: 0, body: '', contentType: undefined, timedOut: false, error: error.message }));
      request.end(payload);
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
