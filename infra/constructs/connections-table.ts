import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';

export interface ConnectionsTableProps {
  /** Production keeps the table (and refuses deletion) if the stack or the resource goes away. */
  readonly retainData: boolean;
}

/**
 * Integrations, connections and subscriptions in one single-table design (`pk`/`sk`), written by the operator
 * CLI and read by the intake to route each notification.
 */
export class ConnectionsTable extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: ConnectionsTableProps) {
    super(scope, id);

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: props.retainData,
      removalPolicy: props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    // A new logical id would replace the table and lose its items: pin it, whatever the construct tree becomes.
    (this.table.node.defaultChild as dynamodb.CfnTable).overrideLogicalId('ConnectionsTable');
  }
}
