import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { json } from '../intake/webhook-request';
import type { HealthReport } from './deep-health';

/**
 * The HTTP answer to `GET /health`: 200 when every check passed (or was skipped), else 503, with the report as its
 * body (names and statuses only). `HEAD` gets the same status and no body. Never cached by a proxy: the instance
 * caches it for its own short period.
 */
export function healthAnswer(report: HealthReport, method: string): APIGatewayProxyStructuredResultV2 {
  const answer = json(report.status === 'ok' ? 200 : 503, report, { 'cache-control': 'no-store' });
  if (method !== 'HEAD') return answer;
  const { body: _body, ...headless } = answer;
  return headless;
}

/** Only these methods are answered on the health path; others get 405. */
export const HEALTH_METHODS = ['GET', 'HEAD'] as const;

export function healthMethodRefused(method: string): APIGatewayProxyStructuredResultV2 | undefined {
  return (HEALTH_METHODS as readonly string[]).includes(method)
    ? undefined
    : json(405, { error: `method ${method} not allowed on /health; use GET or HEAD` }, { allow: HEALTH_METHODS.join(', ') });
}
