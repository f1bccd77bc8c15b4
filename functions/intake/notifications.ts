import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { parseNotificationEnvelope, InvalidNotificationBodyError } from '../../shared/graph/change-notification';
import { healthAnswer, healthMethodRefused } from '../../shared/health/health-answer';
import { processNotifications, type IntakeOutcome } from '../../shared/intake/process-notifications';
import type { RefusalReport } from '../../shared/intake/refusal-tally';
import { RequestLog } from '../../shared/intake/request-log';
import { bodyTooLarge, json, webhookPathSegment } from '../../shared/intake/webhook-request';
import { integrationIdSchema } from '../../shared/store/items';
import { describeError } from '../../shared/util/errors';
import { createIntakeRuntime, type IntakeRuntime, type NotificationRuntime } from './runtime';

let runtime: IntakeRuntime | undefined;

/** Everything but the handshake: method, path, body checks, then the notification logic. Never throws. */
export function handleRequest(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  return handleRequestWith(event, () => (runtime ??= createIntakeRuntime()));
}

/** `GET /health` (and `HEAD`): the deep health answer of this instance's runtime. Never throws. */
export function handleHealth(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  return handleHealthWith(event, () => (runtime ??= createIntakeRuntime()));
}

/** handleHealth with the runtime given: 200 or 503 with check names and statuses only (shared/health/). */
export async function handleHealthWith(event: APIGatewayProxyEventV2, runtimeOf: () => Pick<IntakeRuntime, 'health'>): Promise<APIGatewayProxyStructuredResultV2> {
  const method = event.requestContext?.http?.method ?? 'UNKNOWN';
  const refused = healthMethodRefused(method);
  if (refused !== undefined) return refused;
  let current: Pick<IntakeRuntime, 'health'>;
  try {
    current = runtimeOf();
  } catch (error) {
    console.error(JSON.stringify({ level: 'ERROR', message: 'intake misconfigured', error: String(error) }));
    return json(500, { error: 'intake misconfigured; see the function log' });
  }
  try {
    return healthAnswer(await current.health.answer(), method);
  } catch (error) {
    // The checks catch their own failures; this is the health code itself failing, which is just as unhealthy.
    console.error(JSON.stringify({ level: 'ERROR', message: 'health check could not run', error: describeError(error) }));
    return json(503, { status: 'failed' }, { 'cache-control': 'no-store' });
  }
}

/**
 * handleRequest with the runtime given: built on the first request that gets past the checks. The walk, top to
 * bottom: translate the event, parse the body, process (verify, route, plan events, publish), answer.
 */
export async function handleRequestWith(event: APIGatewayProxyEventV2, runtimeOf: () => NotificationRuntime): Promise<APIGatewayProxyStructuredResultV2> {
  const request = webhookRequestOf(event);
  if ('refused' in request) return request.refused;
  const { integrationId } = request;

  let envelope;
  try {
    envelope = parseNotificationEnvelope(request.body.toString('utf8'));
  } catch (error) {
    if (error instanceof InvalidNotificationBodyError) return json(400, { error: error.message });
    throw error;
  }

  let current: NotificationRuntime;
  try {
    current = runtimeOf();
  } catch (error) {
    console.error(JSON.stringify({ level: 'ERROR', message: 'intake misconfigured', error: String(error) }));
    return json(500, { error: 'intake misconfigured; see the function log' });
  }
  const { metrics } = current;
  // In Lambda an environment serves one request at a time and the runtime's logger is used as is. The local stack
  // serves many at once from one runtime: a request that starts while another is in flight gets a logger of its own
  // (about 0.09 ms), so that no line carries another request's correlation id.
  const logger = inFlight === 0 ? current.logger : current.logger.createChild();
  logger.setCorrelationId(request.correlationId);
  // The domain logs to the request's log, which becomes one line: whatever the body holds, a request writes one.
  const requestLog = new RequestLog();
  inFlight += 1;
  try {
    const outcome = await processNotifications(integrationId, envelope, { ...current.ports, logger: requestLog });
    metrics.record(outcome);
    const refused = outcome.kind === 'unknown-integration' || outcome.kind === 'rejected';
    const reports = refused
      ? [current.refusals.add({ integrationId, known: outcome.kind === 'rejected', reason: outcome.kind === 'rejected' ? outcome.reason : 'unknown-integration', items: outcome.counts.received })]
      : [];
    // Refusals counted inside a window that has passed since are reported now, whatever this request was.
    for (const report of [...reports, ...current.refusals.takeDue()]) if (report !== undefined) await reportRefusals(report, current, logger);
    if (refused) return REFUSED;
    logger[requestLog.level]('notifications processed', {
      integrationId,
      outcome: outcome.kind,
      ...('counts' in outcome ? outcome.counts : {}),
      ...requestLog.summary(),
    });
    return respond(outcome);
  } catch (error) {
    logger.error('unexpected intake failure', { integrationId, error: error instanceof Error ? error.stack : String(error) });
    return json(500, { error: 'internal error; Graph will redeliver' });
  } finally {
    inFlight -= 1;
    metrics.flush();
  }
}

/**
 * One answer for an unknown integration and for a POST in which no clientState verified, so the answer never tells
 * which integration ids exist. The operator finds the reason in the log, the metrics and `graph-relay doctor`.
 */
const REFUSED = json(403, { error: 'not accepted: unknown integration or clientState; the operator can see which with graph-relay doctor' });

/** The tally of refused requests since the bucket's last report: stored for `doctor`, then logged, as one line. */
async function reportRefusals(report: RefusalReport, runtime: NotificationRuntime, logger: NotificationRuntime['logger']): Promise<void> {
  let storeError: string | undefined;
  try {
    await runtime.refusalStore?.record(report);
  } catch (error) {
    storeError = describeError(error);
  }
  logger.warn('webhook requests refused', { ...report, ...(storeError === undefined ? {} : { storeError }) });
}

/** Requests of this runtime being handled now: always 0 or 1 in Lambda. */
let inFlight = 0;

/** Refusals listed in a 400 answer at most: the answer stays a few hundred bytes whatever the body held. */
const MAX_LISTED_REFUSALS = 5;

function respond(outcome: Exclude<IntakeOutcome, { kind: 'unknown-integration' | 'rejected' }>): APIGatewayProxyStructuredResultV2 {
  switch (outcome.kind) {
    case 'accepted':
      return json(202, outcome.counts);
    case 'invalid': {
      const listed = outcome.refused.slice(0, MAX_LISTED_REFUSALS).map((r) => `value[${r.index}]: ${r.reason.slice(0, 200)}`);
      const more = outcome.refused.length - listed.length;
      return json(400, { error: 'no valid notification in the body', refused: more > 0 ? [...listed, `and ${more} more`] : listed });
    }
    case 'suspicious':
      // Microsoft's guidance: answer 202 and publish nothing; a redelivery would carry the same tokens.
      return json(202, { ...outcome.counts, warning: 'validation tokens refused; nothing was published' });
    case 'unverifiable':
      return json(400, { error: outcome.reason, ...outcome.counts });
    case 'unavailable':
      return json(503, { error: `${outcome.reason}; Graph will redeliver`, ...outcome.counts }, { 'retry-after': '30' });
  }
}

/** A request id as Graph sends it: a GUID, or a short token of the same alphabet (never arbitrary header text). */
const GRAPH_REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * The id every log line of the request carries: Graph's request id (`client-request-id`, else `request-id`), which
 * Microsoft support asks for, when present and well-formed; otherwise API Gateway's request id.
 */
export function correlationIdOf(event: APIGatewayProxyEventV2): string {
  for (const name of ['client-request-id', 'request-id']) {
    const value = headerOf(event, name)?.trim();
    if (value !== undefined && GRAPH_REQUEST_ID.test(value)) return value;
  }
  return event.requestContext?.requestId ?? randomUUID();
}

/** API Gateway (payload 2.0) lower-cases header names; other callers (the local stack, tests) may not. */
function headerOf(event: APIGatewayProxyEventV2, name: string): string | undefined {
  for (const [key, value] of Object.entries(event.headers ?? {})) if (key.toLowerCase() === name) return value;
  return undefined;
}

/** What the intake needs of an API Gateway event, or the answer that refuses it before its body is parsed. */
type WebhookRequest = { integrationId: string; body: Buffer; correlationId: string } | { refused: APIGatewayProxyStructuredResultV2 };

/** Translates the event: method, path (shared/intake/webhook-request.ts, as the local adapter), body size. */
function webhookRequestOf(event: APIGatewayProxyEventV2): WebhookRequest {
  const method = event.requestContext?.http?.method ?? 'UNKNOWN';
  if (method !== 'POST') return { refused: json(405, { error: `method ${method} not allowed; Graph delivers with POST` }, { allow: 'POST' }) };

  const integrationId = integrationIdOf(event);
  if (integrationId === undefined) return { refused: json(404, { error: 'no such webhook: expected /webhook/{integrationId}' }) };

  const body = bodyOf(event);
  const tooLarge = bodyTooLarge(body.length);
  if (tooLarge !== undefined) return { refused: tooLarge };
  return { integrationId, body, correlationId: correlationIdOf(event) };
}

function integrationIdOf(event: APIGatewayProxyEventV2): string | undefined {
  const raw = event.pathParameters?.['integrationId'] ?? webhookPathSegment(event.rawPath ?? '');
  if (raw === undefined) return undefined;
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  return integrationIdSchema.safeParse(decoded).success ? decoded : undefined;
}

function bodyOf(event: APIGatewayProxyEventV2): Buffer {
  if (event.body === undefined || event.body === null) return Buffer.alloc(0);
  return Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
}
