/**
 * One Graph client per integration (each integration is one Entra ID app), built from the app credentials in the
 * integration's secret. Clients are cached for the life of the process, so a warm Lambda keeps its tokens: one
 * token per tenant, shared by every call of a run and of later runs until it nears expiry. Each integration's client
 * also has one rate governor (shared/graph/rate-governor.ts), so every call of the process for that app (renewal,
 * reconcile, lifecycle handling, resync's delta queries) is paced by the same per-app and per-tenant buckets.
 */
import { describeIssues } from '../graph/change-notification';
import { GraphClient, type GraphLogger } from '../graph/graph-client';
import { systemClock, type Clock, type FetchFn, type GraphConfig } from '../graph/graph-config';
import { GRAPH_RATE_LIMITS, RateGovernor, type RateLimit } from '../graph/rate-governor';
import { SubscriptionsApi } from '../graph/subscriptions-api';
import { TokenClient, type TokenLogger } from '../graph/token-client';
import { appCredentialsFrom } from '../secrets/app-credentials';
import { encryptionKeysFrom, InvalidEncryptionCertificateError, type CurrentEncryptionCertificate } from '../secrets/encryption-keys';
import { webhookSecretsPartSchema } from '../secrets/integration-secret';

/** The integration secret has no usable webhook secret, so no subscription can be created with a clientState. */
export class MissingWebhookSecretError extends Error {
  override readonly name = 'MissingWebhookSecretError';
}

/**
 * A subscription with resource data needs the integration's current encryption certificate, and the secret holds
 * none that is usable. Like missing app credentials: nothing is asked of Graph, the operator has to act.
 */
export class MissingEncryptionCertificateError extends Error {
  override readonly name = 'MissingEncryptionCertificateError';
  constructor(
    readonly integrationId: string,
    reason = 'the secret holds no encryption certificate',
  ) {
    super(
      `integration "${integrationId}" cannot have subscriptions with resource data: ${reason}; create one with: graph-relay certificates create ${integrationId}`,
    );
  }
}

/**
 * The certificate new and rotated rich subscriptions get, from the integration's parsed secret.
 * @throws MissingEncryptionCertificateError when there is none, or the current one is unusable.
 */
export function encryptionCertificateFrom(secret: unknown, integrationId: string): CurrentEncryptionCertificate {
  let current: CurrentEncryptionCertificate | undefined;
  try {
    current = encryptionKeysFrom(secret).current();
  } catch (error) {
    if (error instanceof InvalidEncryptionCertificateError) throw new MissingEncryptionCertificateError(integrationId, error.message);
    throw error;
  }
  if (current === undefined) throw new MissingEncryptionCertificateError(integrationId);
  return current;
}

export interface IntegrationGraphsOptions {
  config: GraphConfig;
  /**
   * The integration secret's parsed JSON. Read through a cache with a max age (rotation is picked up), since it is
   * asked for on every token refresh.
   */
  readSecret(integrationId: string): Promise<unknown>;
  fetch?: FetchFn;
  clock?: Clock;
  logger?: GraphLogger & TokenLogger;
  /** The limits each integration's governor paces under (default: Graph's documented ones); false: hold-back only. */
  rateLimits?: readonly RateLimit[] | false;
}

interface IntegrationClients {
  graph: GraphClient;
  api: SubscriptionsApi;
}

export class IntegrationGraphs {
  private readonly clients = new Map<string, IntegrationClients>();

  constructor(private readonly options: IntegrationGraphsOptions) {}

  /**
   * The subscriptions API of the integration's app.
   * @throws MissingAppCredentialsError / InvalidAppCredentialsError before any Graph or token call.
   */
  async graphFor(integrationId: string): Promise<SubscriptionsApi> {
    return (await this.clientsFor(integrationId)).api;
  }

  /**
   * The integration's Graph client itself, for calls other than subscriptions (resync's delta queries): the same
   * instance, so its tokens and its throttling state are shared with the subscription calls of this process.
   * @throws MissingAppCredentialsError / InvalidAppCredentialsError before any Graph or token call.
   */
  async graphClientFor(integrationId: string): Promise<GraphClient> {
    return (await this.clientsFor(integrationId)).graph;
  }

  private async clientsFor(integrationId: string): Promise<IntegrationClients> {
    // Checked on every call, not only on the first: credentials removed since are noticed without a token request.
    appCredentialsFrom(await this.options.readSecret(integrationId), integrationId);
    let clients = this.clients.get(integrationId);
    if (clients === undefined) {
      const { config, fetch, clock, logger } = this.options;
      const shared = { ...(fetch === undefined ? {} : { fetch }), ...(clock === undefined ? {} : { clock }), ...(logger === undefined ? {} : { logger }) };
      const tokens = new TokenClient({
        credentials: async () => appCredentialsFrom(await this.options.readSecret(integrationId), integrationId),
        config,
        ...shared,
      });
      const { rateLimits = GRAPH_RATE_LIMITS } = this.options;
      const governor = rateLimits === false ? undefined : new RateGovernor({ limits: rateLimits, clock: clock ?? systemClock });
      const graph = new GraphClient({ config, tokens, ...shared, ...(governor === undefined ? {} : { governor }) });
      clients = { graph, api: new SubscriptionsApi(graph) };
      this.clients.set(integrationId, clients);
    }
    return clients;
  }

  /** The integration's current webhook secret: new subscriptions carry its per-tenant clientState (tenantClientState). */
  async webhookSecretOf(integrationId: string): Promise<string> {
    const parsed = webhookSecretsPartSchema.safeParse(await this.options.readSecret(integrationId));
    if (!parsed.success) {
      throw new MissingWebhookSecretError(`integration "${integrationId}" has no usable webhook secret: ${describeIssues(parsed.error)}`);
    }
    return parsed.data.webhookSecret;
  }

  /**
   * The current encryption certificate, for subscriptions with resource data (read through the secret cache, so a
   * rotation is picked up within its max age).
   * @throws MissingEncryptionCertificateError
   */
  async encryptionCertificateOf(integrationId: string): Promise<CurrentEncryptionCertificate> {
    return encryptionCertificateFrom(await this.options.readSecret(integrationId), integrationId);
  }

  /** Graph requests by `METHOD status` and token requests, summed over every integration's client. */
  stats(): { requests: Record<string, number>; tokenRequests: number } {
    const requests: Record<string, number> = {};
    let tokenRequests = 0;
    for (const { graph } of this.clients.values()) {
      const stats = graph.stats();
      tokenRequests += stats.tokenRequests;
      for (const [key, count] of Object.entries(stats.requests)) requests[key] = (requests[key] ?? 0) + count;
    }
    return { requests, tokenRequests };
  }
}
