import { Duration, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { pinLogicalId, removalPolicyOf, type DataRetention } from './data-retention';
import type { GraphRelayFunction } from './house-function';

export interface PayloadBucketProps extends DataRetention {
  /** Days an object is kept: at least as long as the bus archive, so a replayed event's payloadRef still resolves. */
  readonly expirationDays: number;
}

/**
 * The full detail of events too large for EventBridge (256 KB a PutEvents entry): the intake writes each one here
 * before publishing its event, which carries `detail.payloadRef`; consumers read it with s3:GetObject.
 */
export class PayloadBucket extends Construct {
  readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: PayloadBucketProps) {
    super(scope, id);

    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // Each object is written once under a key of its own; versions would only keep expired payloads alive.
      versioned: false,
      lifecycleRules: [{ id: 'ExpirePayloads', expiration: Duration.days(props.expirationDays) }],
      removalPolicy: removalPolicyOf(props),
    });
    pinLogicalId(this.bucket, 'PayloadBucket');

    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'Each object is a copy of an event detail already delivered on the bus (and kept in its archive), written once by the intake role and read by consumers with their own IAM credentials; CloudTrail data events, not a second log bucket, are the audit trail where one is required.',
    });
  }

  /** Exactly s3:PutObject on the bucket's objects: a publisher's only call, and the objects' wildcard acknowledged. */
  grantWritePayloads(fn: GraphRelayFunction): iam.Grant {
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::<PayloadBucket.Arn>/*]',
      reason:
        'One object per oversized event, under keys made at run time (integration, day, idempotency key, connection); s3:PutObject is the only action, on this bucket\'s objects only.',
    });
    return iam.Grant.addToPrincipal({ grantee: fn.function, actions: ['s3:PutObject'], resourceArns: [this.bucket.arnForObjects('*')] });
  }
}
