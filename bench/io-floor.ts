/**
 * The I/O a request of N notifications needs, made directly with the product's own adapters and no intake
 * around them: look the markers up, publish the events, write the markers (the order processNotifications uses).
 * It is the floor the local stack's dependencies set; the warm latency minus it is HTTP plus the intake's code.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { INTAKE_DEFAULTS } from '../shared/config/intake-config';
import { buildEvents, idempotencyKey } from '../shared/events/contract';
import { EventBridgePublisher } from '../shared/events/publisher';
import { parseNotificationBody } from '../shared/graph/change-notification';
import { DynamoDbDeliveriesStore } from '../shared/store/deliveries-store';
import { LOCAL_CREDENTIALS } from '../local/descriptor';
import type { LocalStack } from '../local/stack';
import { elapsedMs, summarize, type Summary } from './stats';
import { freshBody, type Seeded } from './warm';

export interface IoFloorResult {
  size: number;
  /** Through the bench proxies, as the intake's calls go. */
  read: Summary;
  publish: Summary;
  write: Summary;
  total: Summary;
  /** The same DynamoDB calls straight to DynamoDB Local, without the bench proxies. */
  readDirect: Summary;
  writeDirect: Summary;
  /** readDirect + publish + writeDirect of the same run: the floor of a stack with no proxies (`npm start`). */
  totalDirect: Summary;
}

export interface IoFloor {
  /** One measurement per batch size; `record` false for warm-up rounds. */
  round(record: boolean): Promise<void>;
  results(): IoFloorResult[];
  close(): void;
}

/** Interleave `round()` with the warm HTTP requests, so both see the same DynamoDB Local JIT state and machine load. */
export function createIoFloor(options: {
  stack: LocalStack;
  seeded: Seeded;
  proxiedEndpoint: string;
  directEndpoint: string;
  sizes: readonly number[];
}): IoFloor {
  const d = options.stack.descriptor;
  // The intake's client settings (functions/intake/runtime.ts).
  const requestHandler = { connectionTimeout: 1000, requestTimeout: 3000 };
  const config = { region: d.region, credentials: LOCAL_CREDENTIALS, requestHandler };
  const proxiedClient = new DynamoDBClient({ ...config, endpoint: options.proxiedEndpoint });
  const directClient = new DynamoDBClient({ ...config, endpoint: options.directEndpoint });
  const document = (client: DynamoDBClient) => DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  const events = new EventBridgeClient({ ...config, endpoint: d.awsEmulatorEndpoint });
  const window = INTAKE_DEFAULTS.redeliveryWindowSeconds;
  const storeProxied = new DynamoDbDeliveriesStore(document(proxiedClient), d.deliveriesTable, window);
  const storeDirect = new DynamoDbDeliveriesStore(document(directClient), d.deliveriesTable, window);
  const publisher = new EventBridgePublisher(events, d.eventBusName, {
    maxAttempts: INTAKE_DEFAULTS.publishMaxAttempts,
    concurrency: INTAKE_DEFAULTS.publishConcurrency,
  });
  type Lists = Record<'read' | 'publish' | 'write' | 'total' | 'readDirect' | 'writeDirect' | 'totalDirect', number[]>;
  const samples = new Map<number, Lists>(
    options.sizes.map((size) => [size, { read: [], publish: [], write: [], total: [], readDirect: [], writeDirect: [], totalDirect: [] }]),
  );
  const time = async (fn: () => Promise<unknown>): Promise<number> => {
    const started = process.hrtime.bigint();
    await fn();
    return elapsedMs(started);
  };
  /** Fresh notifications turned into what processNotifications hands to the stores and the publisher. */
  const prepare = (size: number) => {
    const { notifications } = parseNotificationBody(freshBody(options.seeded, size));
    const receivedAt = new Date().toISOString();
    const keys = notifications.map(({ notification }) => idempotencyKey(options.seeded.integrationId, notification));
    const built = notifications.flatMap(({ notification }, n) =>
      buildEvents({
        source: d.eventSource,
        provider: 'microsoft-oauth2-cc',
        integrationId: options.seeded.integrationId,
        notification,
        idempotencyKey: keys[n] as string,
        connectionIds: [`conn-${n % options.seeded.tenants.length}`],
        receivedAt,
      }),
    );
    return { keys, built };
  };

  return {
    async round(record) {
      for (const size of options.sizes) {
        const viaProxies = prepare(size);
        const read = await time(() => storeProxied.findPublished(viaProxies.keys));
        const publish = await time(() => publisher.publish(viaProxies.built));
        const write = await time(() => storeProxied.markPublished(viaProxies.keys));
        const straight = prepare(size);
        const readDirect = await time(() => storeDirect.findPublished(straight.keys));
        const writeDirect = await time(() => storeDirect.markPublished(straight.keys));
        const s = samples.get(size);
        if (!record || s === undefined) continue;
        s.read.push(read);
        s.publish.push(publish);
        s.write.push(write);
        s.total.push(read + publish + write);
        s.readDirect.push(readDirect);
        s.writeDirect.push(writeDirect);
        s.totalDirect.push(readDirect + publish + writeDirect);
      }
    },
    results() {
      return options.sizes.map((size) => {
        const s = samples.get(size);
        return {
          size,
          read: summarize(s?.read ?? []),
          publish: summarize(s?.publish ?? []),
          write: summarize(s?.write ?? []),
          total: summarize(s?.total ?? []),
          readDirect: summarize(s?.readDirect ?? []),
          writeDirect: summarize(s?.writeDirect ?? []),
          totalDirect: summarize(s?.totalDirect ?? []),
        };
      });
    },
    close() {
      proxiedClient.destroy();
      directClient.destroy();
      events.destroy();
    },
  };
}
