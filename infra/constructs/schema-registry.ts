import { Stack } from 'aws-cdk-lib';
import * as eventschemas from 'aws-cdk-lib/aws-eventschemas';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { detailSchemas, jsonSchemaOf } from '../../shared/events/detail-schemas';
import { openApiEventSchema, schemaNameOf } from '../openapi-event-schema';
import { consumerStatements, type ConsumerAccounts } from './consumer-accounts';

/** `consumerAccounts` may read the schemas and get bindings. */
export interface SchemaRegistryProps extends ConsumerAccounts {
  /** Named, not generated: consumers type it into `aws schemas get-code-binding-source` (README, "Event schemas"). */
  readonly registryName: string;
  /** `source` of the relay's events; part of each schema's name. */
  readonly eventSource: string;
}

/**
 * Reading the registry and its schemas, and generating and downloading code bindings: of the calls a registry policy
 * can grant (EventBridge's "Resource-based policies for schemas"), the ones that change no schema.
 */
const READ_AND_BIND = [
  'schemas:DescribeRegistry',
  'schemas:ListSchemas',
  'schemas:SearchSchemas',
  'schemas:DescribeSchema',
  'schemas:ListSchemaVersions',
  'schemas:DescribeCodeBinding',
  'schemas:PutCodeBinding',
  'schemas:GetCodeBindingSource',
];

/**
 * An EventBridge schema registry holding the schema of every event the relay publishes, converted at synth time
 * from the event contract, so consumers find them where EventBridge users look and download code bindings with
 * AWS's own tools. The registry is free; only schema discovery (not used) is charged.
 */
export class SchemaRegistry extends Construct {
  readonly registry: eventschemas.CfnRegistry;
  /** Schema name by detail type. */
  readonly schemaNames: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: SchemaRegistryProps) {
    super(scope, id);
    this.registry = new eventschemas.CfnRegistry(this, 'Registry', {
      registryName: props.registryName,
      description: `Schemas of the events graph-relay publishes with source "${props.eventSource}"`,
    });
    const names: Record<string, string> = {};
    for (const detailType of Object.keys(detailSchemas) as (keyof typeof detailSchemas)[]) {
      const schemaName = schemaNameOf(props.eventSource, detailType);
      new eventschemas.CfnSchema(this, schemaName.replace(/[^A-Za-z0-9]/g, ''), {
        registryName: this.registry.attrRegistryName,
        schemaName,
        type: 'OpenApi3',
        description: `${detailType} (source ${props.eventSource})`,
        content: JSON.stringify(openApiEventSchema({ source: props.eventSource, detailType, detail: jsonSchemaOf(detailType) })),
      });
      names[detailType] = schemaName;
    }
    this.schemaNames = names;

    const registryArn = (resource: string) => Stack.of(this).formatArn({ service: 'schemas', resource, resourceName: props.registryName });
    const statements = consumerStatements({
      consumers: props.consumerAccounts ?? [],
      sid: 'ConsumerReadSchemas',
      actions: READ_AND_BIND,
      resources: [registryArn('registry'), `${registryArn('schema')}/*`],
    });
    if (statements.length > 0) {
      new eventschemas.CfnRegistryPolicy(this, 'Policy', {
        registryName: this.registry.attrRegistryName,
        policy: new iam.PolicyDocument({ statements }),
      });
    }
  }
}
