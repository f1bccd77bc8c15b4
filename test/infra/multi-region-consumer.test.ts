/**
 * A consumer of a multi-region stage: the same consumer code, deployed in each region, puts the same rule on the bus
 * of that region, which the relay names the same in both. Through a failover the events start arriving at the
 * other region's rule; nothing in the consumer changes.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { GraphNotificationRule, relayBusName } from '../../infra/consumer';
import { composeGraphRelayApp, regionalStackName } from '../../infra/graph-relay-app';
import { parseStageConfig, type MultiRegionSettings } from '../../infra/stage-config';
import { cdkJsonContext, resourcesOf, withInlineFunctionCode } from './helpers';

const MULTI: MultiRegionSettings = {
  primaryRegion: 'eu-west-1',
  secondaryRegion: 'eu-central-1',
  witnessRegion: 'eu-west-3',
  webhookDomain: 'graph.example.com',
  hostedZoneId: 'Z0123456789ABCDEFGHIJ',
  hostedZoneName: 'example.com',
};

withInlineFunctionCode();

/** The consumer's whole app: one stack per region of the relay's stage, the same code in each. */
function consumerApp(stage: string): Stack[] {
  const app = new App();
  return [MULTI.primaryRegion, MULTI.secondaryRegion].map((region) => {
    const stack = new Stack(app, `ContosoConsumer-${region}`, { env: { account: '123456789012', region } });
    const inbox = new sqs.Queue(stack, 'Inbox', { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true });
    new GraphNotificationRule(stack, 'ContosoUsers', { eventBus: relayBusName(stage), target: inbox, integrationIds: ['contoso'] });
    return stack;
  });
}

describe('a consumer of a multi-region stage', () => {
  it('puts the same rule on the bus of each region, which the relay names the same in both', () => {
    // Prepare: the relay's two regional stacks
    const { stage: _name, webhookSecretPrefix: _prefix, ...settings } = parseStageConfig('prod');
    const relay = new App({ context: { ...cdkJsonContext, stage: 'global' } });
    composeGraphRelayApp(relay, parseStageConfig('global', { global: { ...settings, multiRegion: MULTI } }), { account: '123456789012' });
    const relayBuses = [MULTI.primaryRegion, MULTI.secondaryRegion].map((region) => {
      const template = Template.fromStack(relay.node.findChild(regionalStackName('global', region)) as Stack);
      return resourcesOf(template, 'AWS::Events::EventBus').map(([, bus]) => bus.Properties['Name']);
    });

    // Act
    const rules = consumerApp('global').map((stack) => resourcesOf(Template.fromStack(stack), 'AWS::Events::Rule').map(([, rule]) => rule.Properties));

    // Assess
    expect(relayBuses).toEqual([['graph-relay-global'], ['graph-relay-global']]);
    expect(rules).toHaveLength(2);
    for (const inRegion of rules) {
      expect(inRegion).toHaveLength(1);
      expect(inRegion[0]).toMatchObject({ EventBusName: 'graph-relay-global', EventPattern: { source: ['graph-relay'], detail: { providerConfigKey: ['contoso'] } } });
    }
    // The same rule, byte for byte, but for the region its target lives in.
    expect(JSON.stringify(rules[0]).replaceAll(MULTI.primaryRegion, '<region>')).toBe(JSON.stringify(rules[1]).replaceAll(MULTI.secondaryRegion, '<region>'));
  });
});
