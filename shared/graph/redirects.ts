/**
 * Requests that carry a secret never follow a redirect. fetch follows by default, and a 307 or 308 resends the
 * method and the body, so a token request would hand its client secret or client assertion to whatever origin the
 * Location names; the Graph client's bearer token goes along on a same-origin redirect, and across origins on any
 * fetch that does not strip Authorization. A token endpoint or Graph that redirects is misconfigured (a wrong
 * GRAPH_LOGIN_URL or GRAPH_API_URL) or intercepted: the request fails once, with the URL that redirected.
 *
 * `redirect: 'manual'` rather than `'error'`: neither is ever followed, but with `manual` the answer comes back, so
 * the client can say where it was sent and classify it without matching fetch's error text ("unexpected redirect").
 */

/** Spread into the init of every fetch that carries a secret or a token. */
export const NO_REDIRECTS = { redirect: 'manual' } as const satisfies RequestInit;

/** The statuses fetch would follow (WHATWG Fetch, "redirect status"). */
const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/** Long enough to recognise where a redirect pointed, short enough to keep an error on one line. */
const MAX_LOCATION_LENGTH = 200;

/** A redirect answer: its status, or the opaque answer a browser-like fetch gives in `manual` mode. */
export function isRedirect(response: Response): boolean {
  return response.type === 'opaqueredirect' || REDIRECT_STATUSES.has(response.status);
}

/**
 * `<url> redirected to <location>; redirects are refused because <because>`, one line. The answer's body is
 * discarded so its connection is freed.
 */
export async function refusedRedirect(url: string, response: Response, because: string): Promise<string> {
  await response.body?.cancel().catch(() => undefined);
  const location = response.headers.get('location');
  let target = 'another URL';
  if (location !== null && location !== '') {
    let resolved: string;
    try {
      resolved = new URL(location, url).href;
    } catch {
      resolved = location;
    }
    target = resolved.length > MAX_LOCATION_LENGTH ? `${resolved.slice(0, MAX_LOCATION_LENGTH)}…` : resolved;
  }
  return `${url} redirected to ${target}; redirects are refused because ${because}`;
}
