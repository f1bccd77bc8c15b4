import { Duration, Stack } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { deadLetterAlarm, deadLetterQueue } from './dead-letter-queue';
import { relayAlarm } from './relay-metrics';

export interface ScheduledInvocationProps {
  /** Invoked asynchronously, with no input, every `intervalMinutes`. */
  readonly function: lambda.IFunction;
  readonly intervalMinutes: number;
  readonly description: string;
  /** What the dead-letter queue serves, for its cdk-nag acknowledgement: e.g. "the renewal schedule's target". */
  readonly deadLetterOf: string;
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

    this.deadLetterQueue = deadLetterQueue(
      this,
      'DeadLetterQueue',
      `This queue is itself the dead-letter queue of ${props.deadLetterOf} (cdk-nag only recognises queue redrive policies); it alarms as soon as it holds a message.`,
    );

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
    const deadLetterArn = this.deadLetterQueue.queueArn;
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
          deadLetterConfig: { arn: deadLetterArn },
          retryPolicy: { maximumRetryAttempts: SCHEDULE_RETRY_ATTEMPTS, maximumEventAgeInSeconds },
        }),
      },
    });

    this.deadLetterAlarm = deadLetterAlarm(
      this,
      'DeadLetters',
      this.deadLetterQueue,
      `${props.description}: EventBridge Scheduler could not invoke the function after retries. Inspect the dead-letter queue.`,
    );
  }
}

/**
 * Function settings of a scheduled run that must not overlap another (`what` names it in the error): one run at a
 * time (reserved concurrency 1), a failed or throttled run not retried, since the next run does everything still to
 * do, and a queued invocation older than one interval dropped, as it would only overlap its successor.
 */
export function scheduledRunSettings(what: string, intervalMinutes: number) {
  if (!Number.isInteger(intervalMinutes) || intervalMinutes < 1) {
    throw new RangeError(`${what} interval must be a whole number of minutes ≥ 1, got ${intervalMinutes}`);
  }
  return { reservedConcurrentExecutions: 1, retryAttempts: 0, maxEventAge: Duration.minutes(intervalMinutes) };
}

/**
 * An alarm when scheduled runs fail twice in a row. One period per run, so a condition every run reports keeps the
 * alarm on instead of flapping between runs.
 */
export function failedRunsAlarm(scope: Construct, id: string, fn: lambda.IFunction, intervalMinutes: number, description: string): cloudwatch.Alarm {
  return relayAlarm(scope, id, fn.metricErrors({ period: runPeriod(intervalMinutes) }), { atLeast: 1 }, description, 2);
}

/** A run's metric period: its interval, at least the 5 minutes the relay's alarms use. */
export function runPeriod(intervalMinutes: number): Duration {
  return Duration.minutes(Math.max(5, intervalMinutes));
}
