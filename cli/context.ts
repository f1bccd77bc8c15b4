import { resolve } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand, type Output as StackOutput } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { EventBridgePublisher } from '../shared/events/publisher';
import type { SubscriptionEventEntry } from '../shared/events/subscription-events';
import { z } from 'zod';
import { LOCAL_CREDENTIALS, dataDirFromEnv, readLocalStackDescriptor } from '../local/descriptor';
import type { ConnectionsStore } from '../shared/store/connections-store';
import { DynamoDbConnectionsStore } from '../shared/store/dynamodb-connections-store';
import { DynamoDbSubscriptionsStore, type SubscriptionsStore } from '../shared/store/subscriptions-store';
import { secretStoreGraphAccess, type EventsAccess, type GraphAccess } from './graph-access';
import { CommandFailedError, parseArg } from './output';
import { SecretsManagerSecretStore, type SecretStore } from './secret-store';

/** The program-wide flags, as commander hands them over. */
export interface GlobalOptions {
  local?: boolean;
  stage: string;
  region?: string;
  connectionsTable?: string;
  webhookSecretPrefix?: string;
}

/** Names of the deployment a command acts on. */
export interface Target {
  region: string;
  connectionsTable: string;
  webhookSecretPrefix: string;
  /** Unknown when the names came from flags and the stack was not read. */
  webhookBaseUrl?: string;
  /** The stack's event bus and event source; unknown when the stack was not read. */
  eventBusName?: string;
  eventSource?: string;
}

export interface Context {
  target: Target;
  store: ConnectionsStore;
  /** Records of the Graph subscriptions created; they live in the connections table. */
  subscriptions: SubscriptionsStore;
  secrets: SecretStore;
  /** Graph through the integrations' app credentials. */
  graph: GraphAccess;
  /** Undefined when the event bus is unknown (names given as flags). */
  events?: EventsAccess;
  close(): void;
}

/** What a command works with: everything but the clients' lifecycle. */
export type CommandContext = Pick<Context, 'target' | 'store' | 'subscriptions' | 'secrets' | 'graph' | 'events'>;

/** How the commands reach the outside world; tests pass fakes. */
export interface Ports {
  openContext(options: GlobalOptions): Promise<Context>;
  eventsFile(options: GlobalOptions): Promise<string>;
}

/** CloudFormation stack names allow letters, digits and hyphens. */
const stageSchema = z.string().regex(/^[A-Za-z][A-Za-z0-9-]*$/, 'stage must be letters, digits and "-", starting with a letter');

export function stackName(stage: string): string {
  return `GraphRelay-${parseArg(stageSchema, stage, '--stage')}`;
}

/** The real ports: AWS SDK clients, pointed at AWS or at the local stack. */
export const sdkPorts: Ports = {
  async openContext(options) {
    const { target, clientConfig } = options.local ? await localTarget(options) : await awsTarget(options);
    const dynamodb = new DynamoDBClient(clientConfig.dynamodb);
    const secretsManager = new SecretsManagerClient(clientConfig.secretsManager);
    // The local emulator serves EventBridge and Secrets Manager on one endpoint.
    const eventBridge = new EventBridgeClient(clientConfig.secretsManager);
    const documents = DynamoDBDocumentClient.from(dynamodb);
    const secrets = new SecretsManagerSecretStore(secretsManager);
    const { eventBusName, eventSource } = target;
    return {
      target,
      store: new DynamoDbConnectionsStore(documents, target.connectionsTable),
      subscriptions: new DynamoDbSubscriptionsStore(documents, target.connectionsTable),
      secrets,
      graph: secretStoreGraphAccess(secrets, target.webhookSecretPrefix),
      ...(eventBusName === undefined || eventSource === undefined
        ? {}
        : {
            events: {
              source: eventSource,
              publish: (events: readonly SubscriptionEventEntry[]) =>
                new EventBridgePublisher<SubscriptionEventEntry>(eventBridge, eventBusName, { maxAttempts: 4, concurrency: 1 }).publish(events),
            },
          }),
      close() {
        dynamodb.destroy();
        secretsManager.destroy();
        eventBridge.destroy();
      },
    };
  },

  async eventsFile(options) {
    if (!options.local) {
      throw new CommandFailedError(
        `events tail reads the local stack only: EventBridge has no API to read events from a bus. ` +
          `In AWS, add a rule on the bus of ${stackName(options.stage)} (stack output EventBusName) with a CloudWatch Logs ` +
          `target and run: aws logs tail <log group> --follow`,
      );
    }
    const dataDir = dataDirFromEnv();
    const descriptor = await readLocalStackDescriptor(dataDir);
    return resolve(dataDir, descriptor.eventsFile);
  },
};

interface ClientConfig {
  region: string;
  endpoint?: string;
  credentials?: typeof LOCAL_CREDENTIALS;
}

interface ResolvedTarget {
  target: Target;
  clientConfig: { dynamodb: ClientConfig; secretsManager: ClientConfig };
}

async function localTarget(options: GlobalOptions): Promise<ResolvedTarget> {
  const descriptor = await readLocalStackDescriptor(dataDirFromEnv());
  const base = { region: descriptor.region, credentials: LOCAL_CREDENTIALS };
  return {
    target: {
      region: descriptor.region,
      connectionsTable: options.connectionsTable ?? descriptor.connectionsTable,
      webhookSecretPrefix: options.webhookSecretPrefix ?? descriptor.webhookSecretPrefix,
      webhookBaseUrl: descriptor.webhookBaseUrl,
      eventBusName: descriptor.eventBusName,
      eventSource: descriptor.eventSource,
    },
    clientConfig: {
      dynamodb: { ...base, endpoint: descriptor.dynamodbEndpoint },
      secretsManager: { ...base, endpoint: descriptor.awsEmulatorEndpoint },
    },
  };
}

async function awsTarget(options: GlobalOptions): Promise<ResolvedTarget> {
  const name = stackName(options.stage);
  const cloudFormation = new CloudFormationClient(options.region === undefined ? {} : { region: options.region });
  try {
    const region = await regionOf(cloudFormation);
    const named = { connectionsTable: options.connectionsTable, webhookSecretPrefix: options.webhookSecretPrefix };
    // With both names given on the command line the stack need not be read (nor readable).
    const target: Target =
      named.connectionsTable !== undefined && named.webhookSecretPrefix !== undefined
        ? { region, connectionsTable: named.connectionsTable, webhookSecretPrefix: named.webhookSecretPrefix }
        : await stackTarget(cloudFormation, name, options.stage, region, named);
    return { target, clientConfig: { dynamodb: { region }, secretsManager: { region } } };
  } finally {
    cloudFormation.destroy();
  }
}

async function regionOf(client: CloudFormationClient): Promise<string> {
  try {
    return await client.config.region();
  } catch {
    throw new CommandFailedError('no AWS region configured: pass --region or set AWS_REGION');
  }
}

async function stackTarget(
  client: CloudFormationClient,
  name: string,
  stage: string,
  region: string,
  named: { connectionsTable: string | undefined; webhookSecretPrefix: string | undefined },
): Promise<Target> {
  let outputs: StackOutput[];
  try {
    const { Stacks } = await client.send(new DescribeStacksCommand({ StackName: name }));
    outputs = Stacks?.[0]?.Outputs ?? [];
  } catch (error) {
    // CloudFormation reports a missing stack as a generic ValidationError.
    if (error instanceof Error && error.name === 'ValidationError' && error.message.includes('does not exist')) {
      throw new CommandFailedError(
        `stack ${name} not found in ${region}: deploy with npx cdk deploy -c stage=${stage}, ` +
          'or pass --connections-table and --webhook-secret-prefix',
      );
    }
    throw error;
  }
  const output = (key: string) => outputs.find((o) => o.OutputKey === key)?.OutputValue;
  const required = (key: string) => {
    const value = output(key);
    if (value === undefined) throw new CommandFailedError(`stack ${name} in ${region} has no output ${key}: redeploy it`);
    return value;
  };
  return {
    region,
    connectionsTable: named.connectionsTable ?? required('ConnectionsTableName'),
    webhookSecretPrefix: named.webhookSecretPrefix ?? required('WebhookSecretPrefix'),
    webhookBaseUrl: output('WebhookBaseUrl'),
    eventBusName: output('EventBusName'),
    eventSource: output('EventSource'),
  };
}

