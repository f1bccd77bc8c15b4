import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { pinLogicalId } from './data-retention';

/**
 * Short-lived markers of notifications already published, keyed by idempotency key, so Graph's redeliveries
 * are not published twice. DynamoDB's TTL removes them once the redelivery window has passed.
 */
export class DeliveriesTable extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'idempotencyKey', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      // Epoch seconds, written by shared/store/deliveries-store.ts.
      timeToLiveAttribute: 'expiresAt',
      // Markers are worthless once their window has passed, so the table is not kept in any stage.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    pinLogicalId(this.table, 'DeliveriesTable');

    Validations.of(this.table).acknowledge({
      id: 'AwsSolutions-DDB3',
      reason:
        'Redelivery markers expire by TTL within the redelivery window; a point-in-time restore could only bring back expired markers.',
    });
  }
}
