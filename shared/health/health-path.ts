/**
 * The intake's deep health check (deep-health.ts) answers `GET /health` (and `HEAD`). Deployed, API Gateway routes
 * `GET /health` to the intake; locally, the HTTP adapter asks this same rule. Free of imports: the handler asks it
 * on the path that also answers Graph's handshake, which loads nothing heavy.
 */
export const HEALTH_PATH = '/health';

export function isHealthPath(path: string): boolean {
  return path === HEALTH_PATH;
}

/** The API Gateway route (HTTP API) that sends the health check to the intake. */
export const HEALTH_ROUTE_KEY = `GET ${HEALTH_PATH}`;

/** Whether an API Gateway (payload 2.0) event is the health check: by its route, else by its path. */
export function isHealthRequest(event: { routeKey?: string | undefined; rawPath?: string | undefined }): boolean {
  return event.routeKey === HEALTH_ROUTE_KEY || isHealthPath(event.rawPath ?? '');
}
