import { Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct, type IConstruct } from 'constructs';
import { pinLogicalId, removalPolicyOf, type DataRetention } from './data-retention';

/** A retained stage keeps the topic's key. */
export interface AlarmTopicProps extends DataRetention {
  /** Subscribed to the stack's topic; AWS sends a confirmation mail first. */
  readonly alarmEmail?: string;
  /** Send to this existing topic instead of creating one. */
  readonly alarmTopicArn?: string;
}

/**
 * Where every alarm of the stack goes, in ALARM and back to OK: the stack's own encrypted, TLS-only topic
 * (with an e-mail subscription when the stage names one), or a topic the stage names.
 */
export class AlarmTopic extends Construct {
  readonly topic: sns.ITopic;
  private readonly action: cloudwatch.IAlarmAction;

  constructor(scope: Construct, id: string, props: AlarmTopicProps) {
    super(scope, id);

    if (props.alarmTopicArn !== undefined) {
      this.topic = sns.Topic.fromTopicArn(this, 'Imported', props.alarmTopicArn);
    } else {
      // CloudWatch cannot publish to a topic under the AWS-managed SNS key: a key of our own lets it, and only it.
      const key = new kms.Key(this, 'Key', {
        description: 'Encrypts the graph-relay alarm topic',
        enableKeyRotation: true,
        removalPolicy: removalPolicyOf(props),
      });
      key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'CloudWatchAlarmsPublish',
          principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          resources: ['*'],
        }),
      );
      const topic = new sns.Topic(this, 'Topic', {
        displayName: 'graph-relay alarms',
        masterKey: key,
        enforceSSL: true,
      });
      // The topic policy enforceSSL creates replaces SNS's default one: let CloudWatch publish, for this account only.
      topic.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'CloudWatchAlarmsPublish',
          principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['sns:Publish'],
          resources: [topic.topicArn],
          conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
        }),
      );
      // Subscriptions hang off the topic.
      pinLogicalId(topic, 'AlarmTopic');
      pinLogicalId(key, 'AlarmTopicKey');
      if (props.alarmEmail !== undefined) topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
      this.topic = topic;
    }
    this.action = new cloudwatchActions.SnsAction(this.topic);
  }

  /** Sends every CloudWatch alarm under `scope` here, when it fires and when it clears. */
  notifyAllAlarmsIn(scope: IConstruct): void {
    for (const alarm of scope.node.findAll().filter((construct): construct is cloudwatch.Alarm => construct instanceof cloudwatch.Alarm)) {
      alarm.addAlarmAction(this.action);
      alarm.addOkAction(this.action);
    }
  }
}
