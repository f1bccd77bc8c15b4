import { Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import { Construct } from 'constructs';
import { consumerStatements, type ConsumerAccounts } from './consumer-accounts';
import { pinLogicalId } from './data-retention';

/** `consumerAccounts` may keep their own rules on the bus. */
export interface NotificationBusProps extends ConsumerAccounts {
  /** `source` of the relay's events; the archive keeps exactly these. */
  readonly eventSource: string;
  readonly archiveRetentionDays: number;
  /**
   * A fixed name, the same in each region of a multi-region stage, so a consumer deploys one rule definition in both.
   * @default named by CloudFormation
   */
  readonly eventBusName?: string;
}

/**
 * What another account needs to keep its own rules on the bus: AWS's "manage rules on the event bus" actions
 * (create, change, remove, enable, disable, add and remove targets), plus the reads and tagging CloudFormation makes
 * when it manages a rule and its targets.
 */
const RULE_ACTIONS = [
  'events:PutRule',
  'events:PutTargets',
  'events:DeleteRule',
  'events:RemoveTargets',
  'events:DisableRule',
  'events:EnableRule',
  'events:DescribeRule',
  'events:ListTargetsByRule',
  'events:TagResource',
  'events:UntagResource',
  'events:ListTagsForResource',
];
/** EventBridge records a rule's creator: a caller may act only on rules its own account created (none yet on PutRule). */
const OWN_RULES_ONLY = { StringEqualsIfExists: { 'events:creatorAccount': '${aws:PrincipalAccount}' } };

/**
 * The EventBridge bus the relay publishes verified notifications on. An archive keeps them for a while so a
 * consumer that was broken or missing can replay them instead of waiting for Graph's next change.
 */
export class NotificationBus extends Construct {
  readonly bus: events.EventBus;
  readonly archive: events.Archive;

  constructor(scope: Construct, id: string, props: NotificationBusProps) {
    super(scope, id);

    this.bus = new events.EventBus(this, 'Bus', props.eventBusName === undefined ? undefined : { eventBusName: props.eventBusName });
    this.archive = this.bus.archive('Archive', {
      description: `Events from ${props.eventSource}, for replay`,
      eventPattern: { source: [props.eventSource] },
      retention: Duration.days(props.archiveRetentionDays),
    });
    // Consumers' rules hang off the bus and the archive holds past events: pin both logical ids.
    pinLogicalId(this.bus, 'NotificationBus');
    pinLogicalId(this.archive, 'NotificationArchive');
    this.allowRulesOf(props.consumerAccounts ?? []);
  }

  /** Rules of this bus only (`rule/<bus>/*`), and of those only the ones the caller's account created. */
  private allowRulesOf(consumers: readonly string[]): void {
    const rulesOnThisBus = Stack.of(this).formatArn({ service: 'events', resource: 'rule', resourceName: `${this.bus.eventBusName}/*` });
    for (const statement of consumerStatements({ consumers, sid: 'ConsumerOwnRules', actions: RULE_ACTIONS, resources: [rulesOnThisBus], conditions: OWN_RULES_ONLY })) {
      this.bus.addToResourcePolicy(statement);
    }
  }
}
