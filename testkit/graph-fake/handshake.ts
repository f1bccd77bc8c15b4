/**
 * The validation handshake Graph performs before creating a subscription (Microsoft Graph docs):
 * `POST {url}?validationToken=<url-encoded token>`, `Content-Type: text/plain; charset=utf-8`, empty body;
 * the endpoint must answer 200 with exactly the decoded token within the timeout. Tokens are shaped like
 * Graph's ("Validation: Testing client application reachability for subscription Request-Id: <guid>") and
 * never contain HTML-significant characters, so an endpoint that HTML-escapes its echo still passes.
 */
import { randomUUID } from 'node:crypto';
import { GraphHttpError } from './errors';
import type { OutboundClient } from './http-client';

export interface ValidationRecord {
  url: string;
  /** Which property of the subscription the URL came from. */
  purpose: 'notificationUrl' | 'lifecycleNotificationUrl';
  token: string;
  /** The exact URL requested, query included. */
  requestUrl: string;
  status: number;
  body: string;
  contentType: string | undefined;
  durationMs: number;
  outcome: 'ok' | 'failed' | 'timeout';
  error?: string;
  at: number;
}

export function validationToken(): string {
  return `Validation: Testing client application reachability for subscription Request-Id: ${randomUUID()}`;
}

export function validationRequestUrl(url: string, token: string, encoding: 'percent' | 'form'): string {
  const encoded = encoding === 'form' ? encodeURIComponent(token).replace(/%20/g, '+') : encodeURIComponent(token);
  const hash = url.indexOf('#');
  const base = hash === -1 ? url : url.slice(0, hash);
  return `${base}${base.includes('?') ? '&' : '?'}validationToken=${encoded}`;
}

export async function validateEndpoint(
  client: OutboundClient,
  url: string,
  purpose: ValidationRecord['purpose'],
  options: { timeoutMs: number; encoding: 'percent' | 'form'; now: () => number },
): Promise<ValidationRecord> {
  const token = validationToken();
  const requestUrl = validationRequestUrl(url, token, options.encoding);
  const at = options.now();
  const result = await client.post(requestUrl, '', { 'content-type': 'text/plain; charset=utf-8' }, options.timeoutMs);
  const outcome = result.timedOut ? 'timeout' : result.status === 200 && result.body === token ? 'ok' : 'failed';
  return {
    url,
    purpose,
    token,
    requestUrl,
    status: result.status,
    body: result.body,
    contentType: result.contentType,
    durationMs: result.durationMs,
    outcome,
    ...(result.error === undefined ? {} : { error: result.error }),
    at,
  };
}

/** The create/update error Graph returns for a failed validation. */
export function validationError(record: ValidationRecord): GraphHttpError {
  if (record.outcome === 'timeout') return new GraphHttpError(400, 'InvalidRequest', 'Subscription validation request timed out.');
  if (record.status === 200) {
    return new GraphHttpError(400, 'ValidationError', 'Subscription validation request failed. Response must exactly match validationToken query parameter.');
  }
  return new GraphHttpError(400, 'ValidationError', 'Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.');
}
