/**
 * The CLI's side of Graph: the integration's app credentials (from its secret) give one Graph client per
 * integration, built the way the renewal Lambda builds it, so the CLI's calls are the product's calls. Graph's base
 * URLs come from GRAPH_API_URL / GRAPH_LOGIN_URL (tests point them at a fake); they are read on the first Graph call,
 * so commands that never call Graph are not refused for a bad value.
 */
import type { SubscriptionEventEntry } from '../shared/events/subscription-events';
import { loadGraphConfig } from '../shared/graph/graph-config';
import { integrationSecretName } from '../shared/secrets/integration-secret';
import { IntegrationGraphs } from '../shared/subscriptions/integration-graphs';
import type { DeltaGraph } from '../shared/resync/run-resync';
import type { ReconcileGraph } from '../shared/subscriptions/reconcile';
import type { RenewalGraph } from '../shared/subscriptions/renew-due';
import { CommandFailedError } from './output';
import type { SecretStore } from './secret-store';

/** Every Graph call the CLI makes (SubscriptionsApi implements them). */
export type CliGraph = ReconcileGraph & RenewalGraph;

export interface GraphAccess {
  /** @throws MissingAppCredentialsError / InvalidAppCredentialsError before any Graph or token call. */
  graphFor(integrationId: string): Promise<CliGraph>;
  /** The integration's current webhook secret: new subscriptions carry its per-tenant clientState. */
  webhookSecretOf(integrationId: string): Promise<string>;
}

/** The stack's event bus: `subscriptions renew` publishes what the renewal schedule would. */
export interface EventsAccess {
  source: string;
  publish(events: readonly SubscriptionEventEntry[]): Promise<unknown>;
}

/** The Graph access of a real command, plus the integration's Graph client itself for delta queries (resync). */
export function secretStoreGraphAccess(
  secrets: SecretStore,
  secretPrefix: string,
  env: NodeJS.ProcessEnv = process.env,
): GraphAccess & { graphClientFor(integrationId: string): Promise<DeltaGraph> } {
  // One command is one short process: each secret is read once.
  const read = new Map<string, Promise<unknown>>();
  const readSecret = (integrationId: string): Promise<unknown> => {
    let secret = read.get(integrationId);
    if (secret === undefined) {
      secret = readIntegrationSecret(secrets, integrationSecretName(secretPrefix, integrationId), integrationId);
      read.set(integrationId, secret);
    }
    return secret;
  };
  let graphs: IntegrationGraphs | undefined;
  const integrationGraphs = () => (graphs ??= new IntegrationGraphs({ config: loadGraphConfig(env), readSecret }));
  return {
    graphFor: (integrationId) => integrationGraphs().graphFor(integrationId),
    webhookSecretOf: (integrationId) => integrationGraphs().webhookSecretOf(integrationId),
    // The same client as graphFor's: delta queries share its tokens and throttling state.
    graphClientFor: (integrationId) => integrationGraphs().graphClientFor(integrationId),
  };
}

async function readIntegrationSecret(secrets: SecretStore, name: string, integrationId: string): Promise<unknown> {
  const text = await secrets.read(name);
  if (text === undefined) {
    throw new CommandFailedError(`secret ${name} does not exist: create it with graph-relay integrations put ${integrationId}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // The text is never quoted: it holds secrets.
    throw new CommandFailedError(`secret ${name} is not JSON: replace it with graph-relay integrations put ${integrationId}`);
  }
}
