import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import type { DataRetention } from './data-retention';

export interface WriterLeaseTableProps extends DataRetention {
  readonly tableName: string;
  /** In the primary region's stack: the table is created there, with a replica in `replicaRegion` and the witness. */
  readonly create?: { readonly replicaRegion: string; readonly witnessRegion: string };
}

/**
 * The Graph writer lease's own table, a global table with multi-Region strong consistency (MRSC): two replicas (the
 * stage's regions) and a witness region. Not the connections table: that one is eventually consistent, and a
 * conditional write there is checked against the local replica only, so a region cut off from the other would go on
 * renewing its own copy of the lease while the other took it. Under MRSC a write succeeds only with a majority of the
 * three regions, so a cut-off region cannot renew, its lease runs out, and its fenced Graph client stops
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/V2globaltables_HowItWorks.html).
 *
 * One item lives in it; its reads and writes cost cents a month. The primary's stack creates it, the secondary's
 * refers to its replica by name.
 */
export class WriterLeaseTable extends Construct {
  readonly table: dynamodb.ITableV2;

  constructor(scope: Construct, id: string, props: WriterLeaseTableProps) {
    super(scope, id);
    if (props.create === undefined) {
      this.table = dynamodb.TableV2.fromTableName(this, 'Replica', props.tableName);
      return;
    }
    this.table = new dynamodb.TableV2(this, 'Table', {
      tableName: props.tableName,
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billing: dynamodb.Billing.onDemand(),
      multiRegionConsistency: dynamodb.MultiRegionConsistency.STRONG,
      witnessRegion: props.create.witnessRegion,
      replicas: [{ region: props.create.replicaRegion }],
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: props.retainData,
      removalPolicy: props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    if (Stack.of(this).region === props.create.replicaRegion) throw new Error('the writer lease table is created by the primary region\'s stack, not the replica\'s');
  }
}
