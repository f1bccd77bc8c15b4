import type { LocalStackDescriptor } from '../../local/descriptor';

/** A running local stack's descriptor, as `npm start` writes it (this process's pid: alive), with `overrides`. */
export function sampleLocalStackDescriptor(overrides: Partial<LocalStackDescriptor> = {}): LocalStackDescriptor {
  return {
    pid: process.pid,
    region: 'eu-west-1',
    intakeUrl: 'http://127.0.0.1:3000',
    webhookBaseUrl: 'http://127.0.0.1:3000/webhook/',
    dynamodbEndpoint: 'http://127.0.0.1:8000',
    awsEmulatorEndpoint: 'http://127.0.0.1:4566',
    connectionsTable: 'local-connections',
    deliveriesTable: 'local-deliveries',
    eventBusName: 'local-bus',
    eventSource: 'graph-relay',
    webhookSecretPrefix: 'graph-relay/local/integrations/',
    eventsFile: 'events.ndjson',
    startedAt: '2026-12-05T12:00:00.000Z',
    ...overrides,
  };
}
