import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../../shared/config/env-names';
import { deadLetterAlarm, deadLetterQueue } from './dead-letter-queue';
import { GraphCaller, type EventPublishing, type GraphCallerContext } from './graph-caller';
import type { PayloadBucket } from './payload-bucket';
import { relayAlarm } from './relay-metrics';
import { ScheduledInvocation } from './scheduled-invocation';

export interface ResyncProps extends GraphCallerContext {
  /** Oversized events go to the payload bucket, as the intake does it. */
  readonly publishes: EventPublishing & { readonly payloads: PayloadBucket };
  /** The safety net (stage `resyncEveryHours`): every `;resync` declaration caught up at least this often; 0 off. */
  readonly everyHours: number;
}

/** The safety net's sweep runs hourly: due declarations are asked for as they come due, not all at once. */
export const RESYNC_SWEEP_INTERVAL_MINUTES = 60;

/**
 * One slice of a run. A run stops shortly before its deadline, checkpoints its next link and queues its own
 * continuation, so a longer timeout buys no throughput: it would only hold one of the few concurrent slots longer
 * (a large mailbox would keep the others waiting) and, through the visibility timeout below, delay the retry of a run
 * that crashed. Five minutes, like renewal and reconcile, fits dozens of delta pages and a Retry-After of a minute or two.
 */
export const RESYNC_TIMEOUT = Duration.minutes(5);

/** How the queue feeds the function; exported for the tests and the README. */
export const RESYNC_QUEUE = {
  /** Each message is a whole run (one subscription). */
  batchSize: 1,
  /**
   * Runs in flight at once, across every tenant. A run pages one delta request at a time, so this is also the most
   * concurrent Graph reads resync makes: within Outlook's 4 concurrent requests per app and mailbox even when every
   * run reads the same mailbox, and far below the per-app and per-tenant directory limits
   * (https://learn.microsoft.com/graph/throttling-limits), leaving room for intake, renewal and lifecycle calls.
   * The event source's own cap, unlike reserved concurrency, never throttles a received message back to the queue
   * (which would spend its receives); 2 is the least SQS event sources accept.
   */
  maxConcurrency: 4,
  /** AWS's advice for Lambda event sources: at least six times the function timeout. */
  visibilityTimeout: Duration.minutes(RESYNC_TIMEOUT.toMinutes() * 6),
  /**
   * Receives before a job goes to the dead-letter queue. A run that found its subscription busy, reached its deadline
   * or met Graph's throttling is asked again as a new message; only a failed run comes back through redelivery, after
   * the visibility timeout. Ten receives (five hours) ride out a Graph or AWS outage and still stop a job that can
   * never succeed.
   */
  maxReceiveCount: 10,
} as const;

/** Thresholds of the resync alarms, in one place; exported for the tests and the README. */
export const RESYNC_ALARM_THRESHOLDS = {
  /**
   * Age of the oldest waiting job, seconds. A crashed run is retried after the 30-minute visibility timeout, so one
   * crash stays under it; an hour means runs are not getting through (failing again, or a backlog four slots cannot
   * drain), and changes Graph did not deliver stay missing that long.
   */
  oldestJobAgeSeconds: 3600,
} as const;

/**
 * Catches up on subscriptions' resources with Graph delta queries: an encrypted SQS queue of resync jobs
 * (shared/resync/resync-job.ts) feeding a function one job at a time, a few runs at once; a job that fails
 * `maxReceiveCount` times goes to a dead-letter queue, which alarms as soon as it holds one. Lifecycle, renewal and
 * the reconciler ask for runs on the queue (`addSender`), and the function queues its own continuations.
 */
export class Resync extends Construct {
  readonly function: GraphCaller;
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly deadLetterAlarm: cloudwatch.Alarm;
  readonly stuckAlarm: cloudwatch.Alarm;
  readonly errorsAlarm: cloudwatch.Alarm;
  /** The safety net's hourly sweep (absent when it is off). */
  readonly safetyNet?: ScheduledInvocation;

  constructor(scope: Construct, id: string, props: ResyncProps) {
    super(scope, id);

    // Redriven, or the resync asked for again, once an operator has looked.
    this.deadLetterQueue = deadLetterQueue(this, 'DeadLetterQueue');
    // A job's 4-day default retention is far longer than its ten receives take.
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: RESYNC_QUEUE.visibilityTimeout,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: RESYNC_QUEUE.maxReceiveCount },
    });

    this.function = new GraphCaller(this, 'Worker', {
      ...props,
      name: 'resync',
      timeout: RESYNC_TIMEOUT,
      environment: { [ENV.resyncEveryHours]: String(props.everyHours) },
      // Exactly the calls of a run: the subscription record, its connection and the integration (GetItem, Query), the
      // checkpoint item (GetItem, PutItem, UpdateItem, DeleteItem); the events, oversized payloads, the app
      // credentials; and its own continuations on the queue (addSender). The event source adds the queue's receive.
      grantConnections: (fn) => props.connections.table.grant(fn, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Query'),
      secretsReader: 'A resync reads the app credentials of whichever integration the job names',
    });
    const fn = this.function.function;
    this.addSender(fn);

    if (props.everyHours > 0) {
      // The sweep lists the integrations and pages their resync states (GetItem/Query, granted above).
      this.safetyNet = new ScheduledInvocation(this, 'SafetyNet', {
        function: fn,
        intervalMinutes: RESYNC_SWEEP_INTERVAL_MINUTES,
        description: `graph-relay resync safety net: asks for a catch-up of every ;resync declaration not caught up within ${props.everyHours} hours`,
        deadLetterOf: 'the resync safety net\'s schedule target',
      });
    }

    fn.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: RESYNC_QUEUE.batchSize,
        maxConcurrency: RESYNC_QUEUE.maxConcurrency,
        reportBatchItemFailures: true,
      }),
    );

    const period = Duration.minutes(5);
    this.deadLetterAlarm = deadLetterAlarm(
      this,
      'DeadLetters',
      this.deadLetterQueue,
      `A catch-up failed ${RESYNC_QUEUE.maxReceiveCount} times: changes Graph did not deliver for that subscription were not published. Inspect the resync dead-letter queue, then redrive it or ask for the resync again.`,
    );
    this.stuckAlarm = relayAlarm(
      this,
      'Stuck',
      this.queue.metricApproximateAgeOfOldestMessage({ period, statistic: cloudwatch.Stats.MAXIMUM }),
      { above: RESYNC_ALARM_THRESHOLDS.oldestJobAgeSeconds },
      `A resync job has waited over ${RESYNC_ALARM_THRESHOLDS.oldestJobAgeSeconds / 60} minutes: runs are failing or not keeping up, and missed changes stay missing meanwhile. See the resync logs and dashboard row.`,
    );
    // The handler reports failed runs as item failures, so an invocation error is a crash, a timeout or memory
    // running out: a defect worth a look at once, even though the queue retries the job.
    this.errorsAlarm = relayAlarm(
      this,
      'Errors',
      fn.metricErrors({ period }),
      { atLeast: 1 },
      'The resync function failed (crash, timeout or out of memory); the job is retried from its checkpoint. See the resync logs.',
    );
  }

  /**
   * Lets a function ask for resyncs: `RESYNC_QUEUE_URL` and `sqs:SendMessage` on the queue, which also covers
   * SendMessageBatch (`queue.grantSendMessages` would add GetQueueAttributes and GetQueueUrl, which it never calls).
   */
  addSender(fn: lambda.Function): void {
    fn.addEnvironment(ENV.resyncQueueUrl, this.queue.queueUrl);
    iam.Grant.addToPrincipal({ grantee: fn, actions: ['sqs:SendMessage'], resourceArns: [this.queue.queueArn] });
  }
}
