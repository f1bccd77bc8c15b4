import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { INTAKE_DEFAULTS } from '../config/intake-config';

/**
 * What a webhook request must look like before anything reads it, for the Lambda handler and the local HTTP
 * adapter alike: where it is posted, how large its body may be, and the shape of the intake's answers.
 */

/**
 * Where Graph posts: `/webhook/{integrationId}`, one trailing slash allowed. Deployed, API Gateway routes only such
 * paths to the intake; locally, the HTTP adapter asks this same rule before it calls the handler.
 */
const WEBHOOK_PATH = /^\/webhook\/([^/]*)\/?$/;

/**
 * The integration id segment of a webhook path, still URL-encoded (the handler decodes and checks it): `''` for
 * `/webhook/`, `undefined` for any other path.
 */
export function webhookPathSegment(path: string): string | undefined {
  return WEBHOOK_PATH.exec(path)?.[1];
}

/** The other path the intake answers: its deep health check (`GET /health`). */
export { HEALTH_PATH, isHealthPath } from '../health/health-path';

/**
 * The 413 answer to a body of `bytes` bytes over the one body limit, else `undefined`. The limit is the intake's own
 * (`INTAKE_DEFAULTS.maxBodyBytes`, 1 MB), not API Gateway's 10 MB: Graph's payloads stay far below it, and what a
 * hostile body can cost (parse, log, answer) stays bounded by it on either path. Deployed, API Gateway lets up to
 * 10 MB through to the handler, which refuses the rest here; the local adapter stops buffering at it.
 */
export function bodyTooLarge(bytes: number): APIGatewayProxyStructuredResultV2 | undefined {
  const limit = INTAKE_DEFAULTS.maxBodyBytes;
  return bytes > limit ? json(413, { error: `body of ${bytes} bytes exceeds the ${limit}-byte limit` }) : undefined;
}

/** An answer of the intake: JSON, never sniffed as anything else. */
export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode,
    headers: { 'content-type': 'application/json; charset=utf-8', 'x-content-type-options': 'nosniff', ...headers },
    body: JSON.stringify(body),
  };
}
