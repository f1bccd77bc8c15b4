/**
 * The two error dialects the fake speaks, and Microsoft's date formats.
 * Graph: `{ error: { code, message, innerError: { date, 'request-id', 'client-request-id' } } }`.
 * Identity platform: `{ error, error_description: 'AADSTSnnn: … Trace ID: … Correlation ID: … Timestamp: …',
 * error_codes, timestamp, trace_id, correlation_id, error_uri }`.
 */

/** A Graph error response; handlers throw it and the server writes it. */
export class GraphHttpError extends Error {
  override readonly name = 'GraphHttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    /** Extra innerError fields, e.g. Graph's 429 sample carries code/status/message there. */
    readonly innerError: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** An identity-platform (token endpoint) error response. */
export class AadHttpError extends Error {
  override readonly name = 'AadHttpError';
  constructor(
    readonly status: number,
    readonly error: string,
    /** e.g. 7000215 */
    readonly aadsts: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(`AADSTS${aadsts}: ${message}`);
  }
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** Graph's innerError date: `2021-12-15T01:31:15`. */
export function innerErrorDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19);
}

/** Subscription resources: `2016-11-20T18:23:45.9356913Z` (seven fractional digits, as in Graph's examples). */
export function graphDateTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}0000Z`;
}

/** Notifications: `2019-09-18T00:52:45.9696658+00:00` (Graph's lifecycle notification example). */
export function notificationDateTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}0000+00:00`;
}

/** Identity platform: `2024-10-25 13:25:26Z`. */
export function aadTimestamp(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}Z`;
}

export function graphErrorBody(error: GraphHttpError, requestId: string, clientRequestId: string, now: number): unknown {
  return {
    error: {
      code: error.code,
      message: error.message,
      innerError: { ...error.innerError, date: innerErrorDate(now), 'request-id': requestId, 'client-request-id': clientRequestId },
    },
  };
}

export function aadErrorBody(error: AadHttpError, traceId: string, correlationId: string, now: number): unknown {
  const timestamp = aadTimestamp(now);
  return {
    error: error.error,
    error_description: `${error.message} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
    error_codes: [error.aadsts],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `https://login.microsoftonline.com/error?code=${error.aadsts}`,
  };
}
