import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { answerHandshake } from '../../shared/graph/handshake';
import { checkOrigin, ORIGIN_VERIFY_ENV } from '../../shared/intake/origin-check';
import { isHealthRequest } from '../../shared/health/health-path';

/** Set only when the stage puts the webhook behind CloudFront and WAF; read once per execution environment. */
const expectedOrigin = process.env[ORIGIN_VERIFY_ENV];

/**
 * Intake entry. Graph's validation handshake is answered here, before any I/O or heavy import: the bundle is
 * code-split so the AWS SDK is not even parsed on this path (see README, "Cold start"). Behind the stage's
 * firewall, a request that did not come through CloudFront is refused before anything else. `GET /health` is the
 * deep health check (shared/health/), answered from the same runtime as notifications.
 */
export const handler = async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
  // First, so that nothing (not even the handshake) is answered to a caller that went around the firewall.
  const origin = checkOrigin(event.headers, expectedOrigin);
  if (!origin.ok) {
    return { statusCode: origin.statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: origin.reason }) };
  }
  if (event.requestContext?.http?.method === 'POST') {
    const handshake = answerHandshake(validationTokenOf(event));
    if (handshake !== undefined) return handshake;
  }
  notifications ??= import('./notifications');
  if (isHealthRequest(event)) return (await notifications).handleHealth(event);
  return (await notifications).handleRequest(event);
};

/** Loaded on the first request that is not a handshake, then reused. */
let notifications: Promise<typeof import('./notifications')> | undefined;

/** Decoded as a form query (`+` is a space), from the raw query string when API Gateway provides it. */
function validationTokenOf(event: APIGatewayProxyEventV2): string | undefined {
  if (typeof event.rawQueryString === 'string' && event.rawQueryString.length > 0) {
    return new URLSearchParams(event.rawQueryString).get('validationToken') ?? undefined;
  }
  return event.queryStringParameters?.['validationToken'];
}
