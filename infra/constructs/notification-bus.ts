import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import { Construct } from 'constructs';

export interface NotificationBusProps {
  /** `source` of the relay's events; the archive keeps exactly these. */
  readonly eventSource: string;
  readonly archiveRetentionDays: number;
}

/**
 * The EventBridge bus the relay publishes verified notifications on. An archive keeps them for a while so a
 * consumer that was broken or missing can replay them instead of waiting for Graph's next change.
 */
export class NotificationBus extends Construct {
  readonly bus: events.EventBus;
  readonly archive: events.Archive;

  constructor(scope: Construct, id: string, props: NotificationBusProps) {
    super(scope, id);

    this.bus = new events.EventBus(this, 'Bus');
    this.archive = this.bus.archive('Archive', {
      description: `Events from ${props.eventSource}, for replay`,
      eventPattern: { source: [props.eventSource] },
      retention: Duration.days(props.archiveRetentionDays),
    });
    // Consumers' rules hang off the bus and the archive holds past events: pin both logical ids.
    (this.bus.node.defaultChild as events.CfnEventBus).overrideLogicalId('NotificationBus');
    (this.archive.node.defaultChild as events.CfnArchive).overrideLogicalId('NotificationArchive');
  }
}
