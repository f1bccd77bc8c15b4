import { Duration, Stack, Token, TokenComparison, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { graphNotificationPattern, InvalidGraphNotificationFilterError, type GraphNotificationFilter, type GraphNotificationPattern } from './graph-notification-pattern';

/**
 * Where the events go: a queue, a function, or any other EventBridge target built from the retry and
 * dead-letter settings the construct passes (e.g. `(options) => new targets.SfnStateMachine(machine, options)`).
 */
export type GraphNotificationTarget = sqs.IQueue | lambda.IFunction | ((options: targets.TargetBaseProps) => events.IRuleTarget);

export interface GraphNotificationRuleProps extends GraphNotificationFilter {
  /**
   * graph-relay's bus: the bus itself, its ARN (`arn:…`) or its name (stack outputs of the relay). In another account
   * (listed in the relay stage's consumerAccounts), its ARN: the rule is then the consumer's, on the relay's bus.
   */
  readonly eventBus: events.IEventBus | string;
  readonly target: GraphNotificationTarget;
  /**
   * Where events the target could not take after every retry go. Default: a new SQS queue (SSE-SQS, TLS only,
   * 14 days). `false`: none, such events are dropped.
   */
  readonly deadLetterQueue?: sqs.IQueue | false;
  /** EventBridge's retries of a failed delivery, 0-185; default EventBridge's (185). */
  readonly retryAttempts?: number;
  /** How long EventBridge keeps retrying, 1 minute to 24 hours; default EventBridge's (24 hours). */
  readonly maxEventAge?: Duration;
  readonly description?: string;
  /** Default true. */
  readonly enabled?: boolean;
}

/**
 * A consumer's subscription to graph-relay's notification events: one rule on the relay's bus with a pattern
 * built from a typed filter (graph-notification-pattern.ts), and one target with a dead-letter queue.
 */
export class GraphNotificationRule extends Construct {
  readonly rule: events.Rule;
  /** The pattern the rule has, as EventBridge takes it. */
  readonly eventPattern: GraphNotificationPattern;
  /** Undefined with `deadLetterQueue: false`. */
  readonly deadLetterQueue: sqs.IQueue | undefined;

  constructor(scope: Construct, id: string, props: GraphNotificationRuleProps) {
    super(scope, id);
    const { eventBus, target, deadLetterQueue, retryAttempts, maxEventAge, description, enabled, ...filter } = props;
    this.eventPattern = graphNotificationPattern(filter);
    if (retryAttempts !== undefined && !(Number.isInteger(retryAttempts) && retryAttempts >= 0 && retryAttempts <= 185)) {
      throw new InvalidGraphNotificationFilterError(`retryAttempts must be an integer from 0 to 185, got ${retryAttempts}`);
    }

    this.deadLetterQueue = deadLetterQueue === false ? undefined : (deadLetterQueue ?? this.newDeadLetterQueue());
    const bus = busOf(this, eventBus);
    this.rule = new events.Rule(this, 'Rule', {
      eventBus: bus,
      eventPattern: { source: this.eventPattern.source, detailType: this.eventPattern['detail-type'], ...(this.eventPattern.detail === undefined ? {} : { detail: this.eventPattern.detail }) },
      ...(description === undefined ? {} : { description }),
      ...(enabled === undefined ? {} : { enabled }),
    });
    const options: targets.TargetBaseProps = {
      ...(this.deadLetterQueue === undefined ? {} : { deadLetterQueue: this.deadLetterQueue }),
      ...(retryAttempts === undefined ? {} : { retryAttempts }),
      ...(maxEventAge === undefined ? {} : { maxEventAge }),
    };
    this.rule.addTarget(targetOf(target, options));
    // A rule on another account's bus (that account's bus policy lets ours keep its own rules there) names the bus by
    // its ARN: a bare name means a bus of the rule's own account. The ARN also serves when the account is unknown here.
    if (Token.compareStrings(bus.env.account, Stack.of(this).account) !== TokenComparison.SAME) {
      (this.rule.node.defaultChild as events.CfnRule).eventBusName = bus.eventBusArn;
    }
  }

  private newDeadLetterQueue(): sqs.Queue {
    const queue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(queue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the EventBridge rule target; a dead-letter queue of a dead-letter queue would add nothing.',
    });
    return queue;
  }
}

function busOf(scope: Construct, bus: events.IEventBus | string): events.IEventBus {
  if (typeof bus !== 'string') return bus;
  if (Token.isUnresolved(bus)) {
    throw new InvalidGraphNotificationFilterError('eventBus: a token is neither an ARN nor a name here; pass events.EventBus.fromEventBusArn(...) or fromEventBusName(...)');
  }
  if (bus.startsWith('arn:')) return events.EventBus.fromEventBusArn(scope, 'EventBus', bus);
  if (!/^[A-Za-z0-9._-]{1,256}$/.test(bus)) throw new InvalidGraphNotificationFilterError(`eventBus: "${bus}" is neither a bus ARN nor a bus name`);
  return events.EventBus.fromEventBusName(scope, 'EventBus', bus);
}

function targetOf(target: GraphNotificationTarget, options: targets.TargetBaseProps): events.IRuleTarget {
  if (typeof target === 'function') return target(options);
  if ('queueArn' in target) return new targets.SqsQueue(target, options);
  return new targets.LambdaFunction(target, options);
}
