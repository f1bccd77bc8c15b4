/**
 * Did the request come through the stage's CloudFront distribution (and so through its WAF web ACL)? CloudFront
 * adds ORIGIN_HEADER with a value only it and the intake know; a request straight to the execute-api URL lacks it.
 *
 * Pure and import-free: the intake entry runs it before the validation handshake, on the path that must stay free
 * of I/O and heavy imports.
 *
 * The expected value reaches the function in its environment, read once per execution environment, not from
 * Secrets Manager per request: it is not a credential. Knowing it lets a caller skip the web ACL's rate limit and
 * IP reputation lists, never deliver a notification (every item's clientState is still verified against the
 * integration's secret). It is also readable in the distribution's configuration by the same principals that can
 * read the function's, so the environment exposes it to nobody new, and the handshake keeps answering with no read.
 */

/** Header CloudFront adds to every request it forwards to the HTTP API (lower case: HTTP API v2 events are). */
export const ORIGIN_HEADER = 'x-graph-relay-origin';

/** Environment variable holding the value CloudFront sends; unset when the stage has no firewall. */
export const ORIGIN_VERIFY_ENV = 'WEBHOOK_ORIGIN_VERIFY';

export type OriginCheck = { readonly ok: true } | { readonly ok: false; readonly statusCode: 403; readonly reason: string };

const PASSED: OriginCheck = { ok: true };

/**
 * `expected` undefined (no firewall on the stage) lets everything through. Otherwise the header must equal it,
 * compared in time that depends only on the lengths, so the answer's timing does not reveal a prefix.
 */
export function checkOrigin(headers: Readonly<Record<string, string | undefined>> | undefined, expected: string | undefined): OriginCheck {
  if (expected === undefined) return PASSED;
  const presented = headers?.[ORIGIN_HEADER];
  if (presented === undefined || !constantTimeEqual(presented, expected)) {
    return { ok: false, statusCode: 403, reason: 'requests reach this webhook through its CloudFront URL (the stack output WebhookBaseUrl)' };
  }
  return PASSED;
}

/** Equal strings, comparing every code unit of the expected length whatever the first difference. */
export function constantTimeEqual(presented: string, expected: string): boolean {
  // An empty expected value is a misconfiguration: refuse everything rather than accept an empty header.
  if (expected.length === 0) return false;
  let difference = presented.length ^ expected.length;
  for (let i = 0; i < expected.length; i += 1) {
    // A shorter `presented` reads NaN past its end, which `| 0` turns into 0: still a full pass over `expected`.
    difference |= (presented.charCodeAt(i) | 0) ^ expected.charCodeAt(i);
  }
  return difference === 0;
}
