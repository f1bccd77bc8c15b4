import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { CONNECTION_INDEX } from '../../shared/store/connection-index';
import { RENEWAL_INDEX } from '../../shared/store/renewal-index';
import { pinLogicalId, removalPolicyOf, type DataRetention } from './data-retention';

/**
 * Integrations, connections and subscriptions in one single-table design (`pk`/`sk`), written by the operator
 * CLI and read by the intake to route each notification. Two sparse indexes list subscriptions: the active ones
 * by when their renewal is due (`ByRenewalDue`), and all of them by connection (`ByConnection`).
 */
export class ConnectionsTable extends Construct {
  readonly table: dynamodb.Table;

  /** A retained table also refuses deletion. */
  constructor(scope: Construct, id: string, props: DataRetention) {
    super(scope, id);

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: props.retainData,
      // The reconciler reacts to connection changes; the old image lets it skip edits that change no declaration.
      // Enabling a stream updates the table in place.
      stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
      removalPolicy: removalPolicyOf(props),
    });
    pinLogicalId(this.table, 'ConnectionsTable');
    const cfnTable = this.table.node.defaultChild as dynamodb.CfnTable;

    // Declared on the CloudFormation resource rather than with addGlobalSecondaryIndex: the L2 table would then add
    // `index/*` to every grant (the intake's included), while each index has its own readers (grantQuery…Index).
    // Adding an index updates the table in place; its logical id stays. One update may add one index only.
    cfnTable.attributeDefinitions = [
      { attributeName: 'pk', attributeType: 'S' },
      { attributeName: 'sk', attributeType: 'S' },
      { attributeName: RENEWAL_INDEX.partitionKey, attributeType: 'S' },
      { attributeName: RENEWAL_INDEX.sortKey, attributeType: 'S' },
      { attributeName: CONNECTION_INDEX.partitionKey, attributeType: 'S' },
    ];
    cfnTable.globalSecondaryIndexes = [
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
