/**
 * Graph's validation handshake: `POST {notificationUrl}?validationToken=<url-encoded token>`.
 * Kept free of imports so the intake entry can answer it before loading anything else (cold-start budget).
 */
export interface HandshakeResponse {
  statusCode: 200;
  headers: Record<string, string>;
  body: string;
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes HTML-significant characters: Graph never sends them, and the endpoint must not reflect markup. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

/**
 * Answers the handshake when `validationToken` is present. API Gateway has already URL-decoded
 * `queryStringParameters`; pass the decoded value.
 */
export function answerHandshake(validationToken: string | undefined): HandshakeResponse | undefined {
  if (validationToken === undefined) return undefined;
  return {
    statusCode: 200,
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-store',
    },
    body: escapeHtml(validationToken),
  };
}
