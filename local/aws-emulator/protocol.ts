import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';

/** Requests above this are refused before parsing, so a runaway client cannot exhaust memory. */
export const MAX_REQUEST_BYTES = 1024 * 1024;

const JSON_CONTENT_TYPE = 'application/x-amz-json-1.1';

export type JsonObject = Record<string, unknown>;

/** Per-call options the server derives from the request and from injected faults. */
export interface CallContext {
  /** How many otherwise-accepted PutEvents entries must fail with InternalFailure. */
  failEntries: number;
  /** `http://<Host header>`: the endpoint as the client addressed it, for URLs handed back (SQS queue URLs). */
  endpoint: string;
  /** Aborted when the client goes away before the answer, so a long-running call (a long poll) can give up. */
  signal: AbortSignal;
}

export type OperationHandler = (input: JsonObject, call: CallContext) => JsonObject | Promise<JsonObject>;

/** One AWS service: the `X-Amz-Target` prefix it answers to and its operations by name. */
export interface AwsService {
  readonly targetPrefix: string;
  readonly operations: ReadonlyMap<string, OperationHandler>;
  /** Default application/x-amz-json-1.1. */
  readonly contentType?: string;
  /** Default MAX_REQUEST_BYTES. */
  readonly maxRequestBytes?: number;
}

/**
 * How a service that left the AWS query protocol names its errors in JSON (SQS): a namespaced `__type`, and the old
 * query error code in `x-amzn-query-error`, which SDK clients read first to pick the named exception.
 */
export interface QueryCompatibleError {
  type: string;
  /** `<code>;Sender` or `<code>;Receiver`. */
  queryError: string;
  contentType: string;
}

/** An error AWS would return; rendered in the JSON 1.1 error shape so SDK clients throw the matching named exception. */
export class AwsServiceError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    readonly queryCompatible?: QueryCompatibleError,
  ) {
    super(message);
    this.name = code;
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': JSON_CONTENT_TYPE,
    'content-length': Buffer.byteLength(payload),
    'x-amzn-requestid': randomUUID(),
    ...headers,
  });
  res.end(payload);
}

export function sendAwsError(res: ServerResponse, error: AwsServiceError, headers: Record<string, string> = {}): void {
  const compatible = error.queryCompatible;
  if (compatible !== undefined) {
    sendJson(
      res,
      error.status,
      { __type: compatible.type, message: error.message },
      { 'content-type': compatible.contentType, 'x-amzn-query-error': compatible.queryError, ...headers },
    );
    return;
  }
  sendJson(res, error.status, { __type: error.code, message: error.message }, { 'x-amzn-errortype': error.code, ...headers });
}

/** Reads the whole body, refusing more than `limit` bytes with AWS's 413-style error. */
export function readBody(req: IncomingMessage, limit = MAX_REQUEST_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = (): void => {
      // Drain the rest so the socket stays usable for the 413 answer.
      req.removeAllListeners('data');
      req.resume();
      reject(new AwsServiceError('RequestEntityTooLargeException', `Request body must not exceed ${limit} bytes.`, 413));
    };
    if (Number(req.headers['content-length'] ?? 0) > limit) {
      tooLarge();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        tooLarge();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Parses a request body that must be a JSON object; an empty body is the empty input. */
export function parseJsonObject(body: Buffer): JsonObject {
  if (body.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new AwsServiceError('SerializationException', 'The request body is not valid JSON.');
  }
  if (!isJsonObject(value)) throw new AwsServiceError('SerializationException', 'The request body must be a JSON object.');
  return value;
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function wrongType(key: string, expected: string): AwsServiceError {
  return new AwsServiceError('SerializationException', `Expected ${key} to be ${expected}.`);
}

/** AWS's request-validation message for a missing required member (member names in lowerCamelCase). */
export function missingMember(key: string): AwsServiceError {
  const member = key.charAt(0).toLowerCase() + key.slice(1);
  return new AwsServiceError(
    'ValidationException',
    `1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null`,
  );
}

export function optionalString(input: JsonObject, key: string): string | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw wrongType(key, 'a string');
  return value;
}

export function requiredString(input: JsonObject, key: string): string {
  const value = optionalString(input, key);
  if (value === undefined) throw missingMember(key);
  return value;
}

export function optionalNumber(input: JsonObject, key: string): number | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw wrongType(key, 'a number');
  return value;
}

export function optionalBoolean(input: JsonObject, key: string): boolean | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw wrongType(key, 'a boolean');
  return value;
}

export function optionalStringArray(input: JsonObject, key: string): string[] | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) throw wrongType(key, 'a list of strings');
  return value;
}

export function optionalObjectArray(input: JsonObject, key: string): JsonObject[] | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every(isJsonObject)) throw wrongType(key, 'a list of objects');
  return value;
}

/** AWS JSON protocols carry timestamps as epoch seconds. */
export function epochSeconds(ms = Date.now()): number {
  return ms / 1000;
}

/**
 * One page of `items`, with an opaque NextToken holding the offset of the next page.
 * `invalidTokenCode` is the error each service returns for a token it did not issue.
 */
export function paginate<T>(
  items: readonly T[],
  nextToken: string | undefined,
  limit: number,
  invalidTokenCode: string,
): { page: T[]; nextToken?: string } {
  let offset = 0;
  if (nextToken !== undefined) {
    offset = Number(Buffer.from(nextToken, 'base64url').toString('utf8'));
    if (!Number.isInteger(offset) || offset < 0 || offset > items.length) {
      throw new AwsServiceError(invalidTokenCode, 'The NextToken value is not valid.');
    }
  }
  const end = offset + limit;
  const page = items.slice(offset, end);
  return end < items.length ? { page, nextToken: Buffer.from(String(end)).toString('base64url') } : { page };
}

/** Validates an optional page size against the service's documented 1..max range. */
export function pageLimit(input: JsonObject, key: string, max: number): number {
  const value = optionalNumber(input, key) ?? max;
  if (!Number.isInteger(value) || value < 1 || value > max) {
    const member = key.charAt(0).toLowerCase() + key.slice(1);
    throw new AwsServiceError(
      'ValidationException',
      `1 validation error detected: Value '${value}' at '${member}' failed to satisfy constraint: Member must have value between 1 and ${max}`,
    );
  }
  return value;
}
