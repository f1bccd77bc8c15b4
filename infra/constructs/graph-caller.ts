import type * as events from 'aws-cdk-lib/aws-events';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { ENV, GRAPH_ENV, PAYLOAD_BUCKET_ENV } from '../../shared/config/env-names';
import { GRAPH_DEFAULTS } from '../../shared/graph/graph-config';
import { GraphRelayFunction, type GraphRelayFunctionProps, type RelayFunctionContext } from './house-function';
import type { IntegrationSecrets } from './integration-secrets';
import type { PayloadBucket } from './payload-bucket';

/** What the stack gives a construct whose function calls Microsoft Graph for the integrations. */
export interface GraphCallerContext extends RelayFunctionContext {
  /** Where each integration's app credentials are (and, for subscription creates, its webhook secret). */
  readonly integrationSecrets: IntegrationSecrets;
}

/** Where a function publishes the relay's events. */
export interface EventPublishing {
  readonly bus: events.IEventBus;
  /** `source` of the events. */
  readonly eventSource: string;
  /** Where events over EventBridge's 256 KB go, as the intake does it. */
  readonly payloads?: PayloadBucket;
}

export interface GraphCallerProps extends GraphRelayFunctionProps, GraphCallerContext {
  /** Says what the function reads the integration secrets for (cdk-nag acknowledgement of their wildcard). */
  readonly secretsReader: string;
  /** Grants exactly the function's calls on the connections table. */
  readonly grantConnections: (fn: lambda.Function) => void;
  readonly publishes?: EventPublishing;
  /** `<webhook URL>webhook/` for a function that creates subscriptions: notificationUrl = this + integrationId. */
  readonly webhookBaseUrl?: string;
}

/**
 * A house function that calls Microsoft Graph on an integration's behalf: Graph's endpoints and the integration
 * secrets' prefix in its environment, read access to those secrets and, when it publishes, the bus and its
 * payload bucket. Its own environment variables come after the common ones.
 */
export class GraphCaller extends GraphRelayFunction {
  constructor(scope: Construct, id: string, props: GraphCallerProps) {
    const { publishes, webhookBaseUrl } = props;
    super(scope, id, {
      ...props,
      environment: {
        ...(publishes === undefined ? {} : { [ENV.eventBus]: publishes.bus.eventBusName, [ENV.eventSource]: publishes.eventSource }),
        [ENV.webhookSecretPrefix]: props.integrationSecrets.prefix,
        ...(webhookBaseUrl === undefined ? {} : { [ENV.webhookBaseUrl]: webhookBaseUrl }),
        ...(publishes?.payloads === undefined ? {} : { [PAYLOAD_BUCKET_ENV]: publishes.payloads.bucket.bucketName }),
        ...props.environment,
        [GRAPH_ENV.apiUrl]: GRAPH_DEFAULTS.apiUrl,
        [GRAPH_ENV.loginUrl]: GRAPH_DEFAULTS.loginUrl,
      },
    });
    props.grantConnections(this.function);
    publishes?.bus.grantPutEventsTo(this.function);
    publishes?.payloads?.grantWritePayloads(this);
    props.integrationSecrets.grantRead(this, props.secretsReader);
  }
}
