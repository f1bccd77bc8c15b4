import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface ScheduledInvocationProps {
  /** Invoked asynchronously, with no input, every `intervalMinutes`. */
  readonly function: lambda.IFunction;
  readonly intervalMinutes: number;
  readonly description: string;
}

/** Attempts of EventBridge Scheduler to hand an invocation to Lambda before it goes to the dead-letter queue. */
export const SCHEDULE_RETRY_ATTEMPTS = 3;

/**
 * An EventBridge Scheduler schedule invoking one function on a fixed rate, at the exact minute (no flexible window).
 * Its role may invoke that function and write to the schedule's dead-letter queue, nothing else; invocations
 * Scheduler could not deliver after its retries land in the queue, which alarms as soon as it holds one.
 */
export class ScheduledInvocation extends Construct {
  readonly schedule: scheduler.Schedule;
  readonly role: iam.Role;
  readonly deadLetterQueue: sqs.Queue;
  readonly deadLetterAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: ScheduledInvocationProps) {
    super(scope, id);
    const stack = Stack.of(this);

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });

    // Confused-deputy guard: only schedules of this account's default group may assume the role.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: {
          StringEquals: {
            'aws:SourceAccount': stack.account,
            'aws:SourceArn': stack.formatArn({ service: 'scheduler', resource: 'schedule-group', resourceName: 'default' }),
          },
        },
      }),
    });
    // Exactly the function's ARN (no `:*` for versions and aliases, which the schedule never targets).
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [props.function.functionArn] }));
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.deadLetterQueue.queueArn] }));

    const role = this.role;
    const deadLetterQueue = this.deadLetterQueue;
    // A queued invocation older than one interval would only overlap with its successor.
    const maximumEventAgeInSeconds = Math.min(props.intervalMinutes * 60, 15 * 60);
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: props.description,
      schedule: scheduler.ScheduleExpression.rate(Duration.minutes(props.intervalMinutes)),
      timeWindow: scheduler.TimeWindow.off(),
      // The L2 targets grant `lambda:InvokeFunction` on `<function>:*` too: this target brings its exact role.
      target: {
        bind: () => ({
          arn: props.function.functionArn,
          role,
          deadLetterConfig: { arn: deadLetterQueue.queueArn },
          retryPolicy: { maximumRetryAttempts: SCHEDULE_RETRY_ATTEMPTS, maximumEventAgeInSeconds },
        }),
      },
    });

    this.deadLetterAlarm = new cloudwatch.Alarm(this, 'DeadLetters', {
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: cloudwatch.Stats.MAXIMUM }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `${props.description}: EventBridge Scheduler could not invoke the function after retries. Inspect the dead-letter queue.`,
    });
  }
}
