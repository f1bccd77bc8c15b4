/**
 * The notificationUrl Graph is given for an integration's subscriptions: the webhook base URL (`…/webhook/`) and the
 * integration id. A base written without its trailing slash still gets one, so an id never runs into `webhook`.
 */
export function notificationUrl(webhookBaseUrl: string, integrationId: string): string {
  return webhookBaseUrl.endsWith('/') ? `${webhookBaseUrl}${integrationId}` : `${webhookBaseUrl}/${integrationId}`;
}
