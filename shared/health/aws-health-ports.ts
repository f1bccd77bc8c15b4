import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { IntegrationSecretCache } from '../secrets/integration-secret-cache';
import { HEALTH_PROBE, type HealthPorts } from './deep-health';

/**
 * The health checks against AWS, with the intake's own clients: the registry's Query of the connections table, the
 * secret cache's read of Secrets Manager, and one PutEvents entry on the relay's bus. Three calls a run.
 */
export function awsHealthPorts(input: {
  /** The integration registry's read (one Query of the `INTEGRATIONS` partition). */
  loadRegistry: () => Promise<readonly { integrationId: string }[]>;
  secrets: Pick<IntegrationSecretCache, 'fresh'>;
  events: Pick<EventBridgeClient, 'send'>;
  eventBusName: string;
  region: string;
  now?: () => Date;
}): HealthPorts {
  const now = input.now ?? (() => new Date());
  return {
    async integrations() {
      return (await input.loadRegistry()).map((integration) => integration.integrationId);
    },
    async readSecret(integrationId) {
      const accepted = await input.secrets.fresh(integrationId);
      if (accepted === undefined) throw new Error(`integration ${integrationId} has no secret`);
    },
    async probeBus(signal) {
      const output = await input.events.send(
        new PutEventsCommand({
          Entries: [
            {
              EventBusName: input.eventBusName,
              Source: HEALTH_PROBE.source,
              DetailType: HEALTH_PROBE.detailType,
              Detail: JSON.stringify({ region: input.region, probedAt: now().toISOString() }),
            },
          ],
        }),
        { abortSignal: signal },
      );
      const failed = output.FailedEntryCount ?? 0;
      if (failed > 0) {
        const [entry] = output.Entries ?? [];
        throw new Error(`the bus refused the probe: ${entry?.ErrorCode ?? 'unknown error'}${entry?.ErrorMessage === undefined ? '' : ` (${entry.ErrorMessage})`}`);
      }
    },
  };
}
