import { Stack, Validations, type RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { HANDOFF_TTL_ATTRIBUTE } from '../../shared/leadership/dynamodb-leadership-store';
import { CONNECTION_INDEX } from '../../shared/store/connection-index';
import { RENEWAL_INDEX } from '../../shared/store/renewal-index';
import { pinLogicalId, removalPolicyOf, type DataRetention } from './data-retention';

/**
 * The table in a multi-region stage: a global table of a fixed name, created (with its replicas) by the primary
 * region's stack, and referenced by that name in each replica region's stack.
 */
export type GlobalConnectionsTable =
  | { readonly tableName: string; readonly replicaRegions: readonly string[] }
  | {
      readonly tableName: string;
      readonly replicaOf: string;
      /** The stage's logs, for the deploy-time function that reads the replica's stream ARN. */
      readonly logs: { readonly retention: logs.RetentionDays; readonly removalPolicy: RemovalPolicy };
    };

export interface ConnectionsTableProps extends DataRetention {
  /** @default a table of this region only, named by CloudFormation */
  readonly global?: GlobalConnectionsTable;
}

const KEYS = {
  partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
  sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
} as const;

// Declared on the CloudFormation resource rather than with addGlobalSecondaryIndex: the L2 table would then add
// `index/*` to every grant (the intake's included), while each index has its own readers (grantQuery…Index).
// Adding an index updates the table in place; its logical id stays. One update may add one index only.
const ATTRIBUTE_DEFINITIONS = [
  { attributeName: 'pk', attributeType: 'S' },
  { attributeName: 'sk', attributeType: 'S' },
  { attributeName: RENEWAL_INDEX.partitionKey, attributeType: 'S' },
  { attributeName: RENEWAL_INDEX.sortKey, attributeType: 'S' },
  { attributeName: CONNECTION_INDEX.partitionKey, attributeType: 'S' },
];
const GLOBAL_SECONDARY_INDEXES = [
  {
    indexName: RENEWAL_INDEX.indexName,
    keySchema: [
      { attributeName: RENEWAL_INDEX.partitionKey, keyType: 'HASH' },
      { attributeName: RENEWAL_INDEX.sortKey, keyType: 'RANGE' },
    ],
    // Renewal needs the whole record (tenant, resource, expiry) and subscription items are small.
    projection: { projectionType: 'ALL' },
  },
  {
    indexName: CONNECTION_INDEX.indexName,
    keySchema: [
      { attributeName: CONNECTION_INDEX.partitionKey, keyType: 'HASH' },
      { attributeName: CONNECTION_INDEX.sortKey, keyType: 'RANGE' },
    ],
    // The reconciler plans with whole records.
    projection: { projectionType: 'ALL' },
  },
];

/**
 * Integrations, connections and subscriptions in one single-table design (`pk`/`sk`), written by the operator
 * CLI and read by the intake to route each notification. Two sparse indexes list subscriptions: the active ones
 * by when their renewal is due (`ByRenewalDue`), and all of them by connection (`ByConnection`).
 */
export class ConnectionsTable extends Construct {
  /** This region's table (or replica): grants, the name in the functions' environment, and its stream. */
  readonly table: dynamodb.ITable;

  /** A retained table also refuses deletion. */
  constructor(scope: Construct, id: string, props: ConnectionsTableProps) {
    super(scope, id);
    const global = props.global;
    if (global === undefined) this.table = regionalTable(this, props);
    else if ('replicaRegions' in global) this.table = globalTable(this, props, global.tableName, global.replicaRegions);
    else this.table = replicaTable(this, global.tableName, global.logs);
  }

  /** Query on the renewal index alone, for the function that finds subscriptions due. */
  grantQueryRenewalIndex(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:Query'],
      resourceArns: [`${this.table.tableArn}/index/${RENEWAL_INDEX.indexName}`],
    });
  }

  /** Query on the connection index alone, for the function that finds a connection's subscriptions by key. */
  grantQueryConnectionIndex(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:Query'],
      resourceArns: [`${this.table.tableArn}/index/${CONNECTION_INDEX.indexName}`],
    });
  }
}

function regionalTable(scope: Construct, props: DataRetention): dynamodb.Table {
  const table = new dynamodb.Table(scope, 'Table', {
    ...KEYS,
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    deletionProtection: props.retainData,
    // The reconciler reacts to connection changes; the old image lets it skip edits that change no declaration.
    // Enabling a stream updates the table in place.
    stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
    removalPolicy: removalPolicyOf(props),
  });
  pinLogicalId(table, 'ConnectionsTable');
  const cfnTable = table.node.defaultChild as dynamodb.CfnTable;
  cfnTable.attributeDefinitions = ATTRIBUTE_DEFINITIONS;
  cfnTable.globalSecondaryIndexes = GLOBAL_SECONDARY_INDEXES;
  return table;
}

/**
 * The global table (AWS::DynamoDB::GlobalTable), with a replica in each of `replicaRegions`: the same keys and
 * indexes as the regional table, a stream of new and old images in every replica (the reconciler and the route index
 * read it in each region), point-in-time recovery and deletion protection in every replica, and TTL on the writer
 * lease's hand-off items. Grants name this region's replica only.
 */
function globalTable(scope: Construct, props: DataRetention, tableName: string, replicaRegions: readonly string[]): dynamodb.TableV2 {
  const table = new dynamodb.TableV2(scope, 'Table', {
    ...KEYS,
    tableName,
    billing: dynamodb.Billing.onDemand(),
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    deletionProtection: props.retainData,
    dynamoStream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
    timeToLiveAttribute: HANDOFF_TTL_ATTRIBUTE,
    removalPolicy: removalPolicyOf(props),
    replicas: replicaRegions.map((region) => ({ region })),
  });
  pinLogicalId(table, 'ConnectionsTable');
  const cfnTable = table.node.defaultChild as dynamodb.CfnGlobalTable;
  cfnTable.attributeDefinitions = ATTRIBUTE_DEFINITIONS;
  cfnTable.globalSecondaryIndexes = GLOBAL_SECONDARY_INDEXES;
  return table;
}

/**
 * This region's replica of the global table another region's stack created, by its name. Its stream ARN ends in the
 * stream's creation time, known only once the replica exists, so a deploy-time DescribeTable (a CloudFormation
 * custom resource) reads it: the stream event sources need the exact ARN (`TableV2.replica()` gives `stream/*`, which
 * suits a grant but not an event source mapping).
 */
function replicaTable(scope: Construct, tableName: string, logSettings: { retention: logs.RetentionDays; removalPolicy: RemovalPolicy }): dynamodb.ITable {
  const tableArn = Stack.of(scope).formatArn({ service: 'dynamodb', resource: 'table', resourceName: tableName });
  const latestStreamArn = 'Table.LatestStreamArn';
  const describe: cr.AwsSdkCall = {
    service: 'DynamoDB',
    action: 'describeTable',
    parameters: { TableName: tableName },
    physicalResourceId: cr.PhysicalResourceId.fromResponse(latestStreamArn),
    outputPaths: [latestStreamArn],
  };
  const stream = new cr.AwsCustomResource(scope, 'ReplicaStream', {
    onCreate: describe,
    onUpdate: describe,
    policy: cr.AwsCustomResourcePolicy.fromSdkCalls({ resources: [tableArn] }),
    installLatestAwsSdk: false,
    logGroup: new logs.LogGroup(scope, 'ReplicaStreamLogs', logSettings),
  });
  acknowledgeCustomResourceProvider(Stack.of(scope));
  return dynamodb.TableV2.fromTableAttributes(scope, 'Table', { tableName, tableStreamArn: stream.getResponseField(latestStreamArn) });
}

/** cdk-nag's finding on the stack-wide function answering AwsCustomResource, acknowledged once, where it lives. */
function acknowledgeCustomResourceProvider(stack: Stack): void {
  const provider = stack.node.tryFindChild(`AWS${cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace(/-/g, '')}`);
  if (provider === undefined) return;
  Validations.of(provider).acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    reason: 'The CDK-provided function answering the replica-stream custom resource at deploy time only; its role is CDK\'s, with the basic logging policy, and its one DynamoDB call (DescribeTable) is scoped to the table.',
  });
}
