/**
 * The fake's identity platform: app registrations, tenant consent, the client-credentials token endpoint
 * (Microsoft Graph docs) and the access tokens Graph later accepts.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { parseCertificate, verifyClientAssertion, type RegisteredCertificate } from './client-assertion';
import type { FakeClock } from './clock';
import { AadHttpError, GraphHttpError } from './errors';
import type { RegisteredApp, ResolvedOptions } from './options';

export const GRAPH_RESOURCE = 'https://graph.microsoft.com';
/** Graph's well-known application id, also accepted as the resource of a `.default` scope. */
const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/**
 * How a revoked consent shows: 'token' — the token endpoint refuses the app (AADSTS700016, what an uninstalled
 * app gets); 'graph' — tokens are still issued but Graph answers 403 (permissions withdrawn); 'both'.
 */
export type ConsentRevocationMode = 'token' | 'graph' | 'both';

export interface IssuedToken {
  accessToken: string;
  tenantId: string;
  clientId: string;
  issuedAt: number;
  expiresAt: number;
}

export interface TokenResponse {
  token_type: 'Bearer';
  expires_in: number;
  ext_expires_in: number;
  access_token: string;
}

interface App {
  clientId: string;
  secretDigests: Buffer[];
  certificates: RegisteredCertificate[];
  tenants: Set<string> | undefined;
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
const asList = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);
const ALL_APPS = '*';

/** A deterministic GUID-shaped id (the app's service principal in a tenant). */
export function stableGuid(...parts: string[]): string {
  const hex = createHash('sha256').update(parts.join('|')).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export class IdentityPlatform {
  private readonly apps = new Map<string, App>();
  private readonly tenants: Set<string> | undefined;
  private readonly revoked = new Map<string, Map<string, ConsentRevocationMode>>();
  private readonly tokens = new Map<string, IssuedToken>();

  constructor(
    private readonly options: ResolvedOptions,
    private readonly clock: FakeClock,
    apps: readonly RegisteredApp[],
    tenants: readonly string[] | undefined,
  ) {
    this.tenants = tenants === undefined ? undefined : new Set(tenants.map((t) => t.toLowerCase()));
    for (const app of apps) this.addApp(app);
  }

  addApp(app: RegisteredApp): void {
    this.apps.set(app.clientId.toLowerCase(), {
      clientId: app.clientId,
      secretDigests: asList(app.clientSecret).map(digest),
      certificates: asList(app.certificate).map(parseCertificate),
      tenants: app.tenants === undefined ? undefined : new Set(app.tenants.map((t) => t.toLowerCase())),
    });
  }

  revokeConsent(tenantId: string, options: { clientId?: string; mode?: ConsentRevocationMode } = {}): void {
    const tenant = tenantId.toLowerCase();
    const byApp = this.revoked.get(tenant) ?? new Map<string, ConsentRevocationMode>();
    byApp.set(options.clientId?.toLowerCase() ?? ALL_APPS, options.mode ?? 'token');
    this.revoked.set(tenant, byApp);
  }

  restoreConsent(tenantId: string, clientId?: string): void {
    const byApp = this.revoked.get(tenantId.toLowerCase());
    if (clientId === undefined) this.revoked.delete(tenantId.toLowerCase());
    else byApp?.delete(clientId.toLowerCase());
  }

  private revocation(tenantId: string, clientId: string): ConsentRevocationMode | undefined {
    const byApp = this.revoked.get(tenantId.toLowerCase());
    return byApp?.get(clientId.toLowerCase()) ?? byApp?.get(ALL_APPS);
  }

  /** Whether Graph should refuse this app in this tenant with 403. */
  graphConsentRevoked(tenantId: string, clientId: string): boolean {
    const mode = this.revocation(tenantId, clientId);
    return mode === 'graph' || mode === 'both';
  }

  /**
   * POST /{tenant}/oauth2/v2.0/token. `tokenUrls` are the URLs the request was sent to (by the fake's address
   * and by the Host header), the audiences an assertion may name; the public login URLs for the same tenant are
   * accepted too, as the real platform accepts its own v2 and v1 token endpoints.
   */
  token(tenantSegment: string, form: URLSearchParams, tokenUrls: readonly string[]): TokenResponse {
    const tenantId = tenantSegment.toLowerCase();
    if (this.tenants !== undefined && !this.tenants.has(tenantId)) {
      throw new AadHttpError(400, 'invalid_request', 90002, `Tenant '${tenantSegment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`);
    }
    const field = (name: string) => {
      const value = form.get(name);
      return value === null || value === '' ? undefined : value;
    };
    const required = (name: string) => {
      const value = field(name);
      if (value === undefined) throw new AadHttpError(400, 'invalid_request', 900144, `The request body must contain the following parameter: '${name}'.`);
      return value;
    };
    const grantType = required('grant_type');
    if (grantType !== 'client_credentials') {
      throw new AadHttpError(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grantType}'.`);
    }
    const clientId = required('client_id');
    const scope = required('scope');
    const scopes = scope.split(' ').filter((s) => s !== '');
    const only = scopes[0];
    if (scopes.length !== 1 || only === undefined || !only.endsWith('/.default')) {
      throw new AadHttpError(400, 'invalid_scope', 1002012, `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`);
    }
    const resource = only.slice(0, -'/.default'.length).replace(/\/+$/, '');
    if (resource.toLowerCase() !== GRAPH_RESOURCE && resource.toLowerCase() !== GRAPH_APP_ID) {
      throw new AadHttpError(400, 'invalid_resource', 500011, `The resource principal named ${resource} was not found in the tenant named ${tenantSegment}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`);
    }

    const app = this.apps.get(clientId.toLowerCase());
    const mode = this.revocation(tenantId, clientId);
    if (app === undefined || (app.tenants !== undefined && !app.tenants.has(tenantId)) || mode === 'token' || mode === 'both') {
      throw new AadHttpError(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${tenantSegment}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`);
    }

    const secret = field('client_secret');
    const assertion = field('client_assertion');
    if (secret !== undefined && assertion !== undefined) {
      throw new AadHttpError(401, 'invalid_client', 7000216, "Only one of 'client_secret' and 'client_assertion' may be presented for the 'client_credentials' grant type.");
    }
    if (secret !== undefined) {
      const presented = digest(secret);
      if (!app.secretDigests.some((d) => timingSafeEqual(d, presented))) {
        throw new AadHttpError(401, 'invalid_client', 7000215, `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.clientId}'.`);
      }
    } else if (assertion !== undefined) {
      const assertionType = required('client_assertion_type');
      if (assertionType !== JWT_BEARER) {
        throw new AadHttpError(400, 'invalid_request', 900144, `The 'client_assertion_type' parameter must be '${JWT_BEARER}'.`);
      }
      verifyClientAssertion(assertion, {
        clientId: app.clientId,
        certificates: app.certificates,
        acceptedAudiences: [
          ...tokenUrls,
          `https://login.microsoftonline.com/${tenantSegment}/oauth2/v2.0/token`,
          `https://login.microsoftonline.com/${tenantSegment}/oauth2/token`,
        ],
        now: this.clock.now(),
        skewSeconds: this.options.assertionClockSkewSeconds,
      });
    } else {
      throw new AadHttpError(401, 'invalid_client', 7000216, "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.");
    }

    const issued = this.issueToken(tenantId, app.clientId);
    const expiresIn = Math.round((issued.expiresAt - issued.issuedAt) / 1000);
    return { token_type: 'Bearer', expires_in: expiresIn, ext_expires_in: expiresIn, access_token: issued.accessToken };
  }

  /** Issues an app-only Graph token directly (for tests and benchmarks that skip the token endpoint). */
  issueToken(tenantId: string, clientId: string): IssuedToken {
    const now = this.clock.now();
    for (const [key, t] of this.tokens) if (t.expiresAt <= now) this.tokens.delete(key);
    const expiresAt = now + this.options.tokenLifetimeSeconds * 1000;
    const tenant = tenantId.toLowerCase();
    const servicePrincipal = stableGuid('service-principal', clientId.toLowerCase(), tenant);
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    // Shaped like a v1 Graph token so a client that peeks at claims sees familiar ones; Graph-side lookup is by value.
    const accessToken = [
      encode({ typ: 'JWT', alg: 'RS256', kid: 'graph-fake' }),
      encode({
        aud: GRAPH_RESOURCE,
        iss: `https://sts.windows.net/${tenant}/`,
        iat: Math.floor(now / 1000),
        nbf: Math.floor(now / 1000),
        exp: Math.floor(expiresAt / 1000),
        appid: clientId,
        idtyp: 'app',
        oid: servicePrincipal,
        sub: servicePrincipal,
        tid: tenant,
        uti: randomUUID(),
        ver: '1.0',
      }),
      randomBytes(32).toString('base64url'),
    ].join('.');
    const issued: IssuedToken = { accessToken, tenantId: tenant, clientId, issuedAt: now, expiresAt };
    this.tokens.set(accessToken, issued);
    return issued;
  }

  /** Graph's side: the token behind `Authorization: Bearer …`, or 401 InvalidAuthenticationToken. */
  authenticate(authorization: string | undefined): IssuedToken {
    const headers = { 'www-authenticate': `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="${GRAPH_APP_ID}"` };
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    const value = match?.[1];
    if (value === undefined) throw new GraphHttpError(401, 'InvalidAuthenticationToken', 'Access token is empty.', headers);
    const token = this.tokens.get(value);
    if (token === undefined) {
      const message = value.includes('.') ? 'Access token validation failure.' : 'IDX14100: JWT is not well formed, there are no dots (.).';
      throw new GraphHttpError(401, 'InvalidAuthenticationToken', message, headers);
    }
    if (this.clock.now() >= token.expiresAt) throw new GraphHttpError(401, 'InvalidAuthenticationToken', 'Lifetime validation failed, the token is expired.', headers);
    return token;
  }
}
