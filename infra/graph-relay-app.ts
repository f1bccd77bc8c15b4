import { Validations, type App } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { GraphRelayStack } from './graph-relay-stack';
import { StageConfigError, type StageConfig } from './stage-config';
import { WebhookFirewallStack } from './webhook-firewall-stack';

export interface DeployTarget {
  /** Region the relay deploys to (`CDK_DEFAULT_REGION`, which the CDK CLI sets); needed only behind a firewall. */
  readonly region?: string;
  /** Account (`CDK_DEFAULT_ACCOUNT`); a multi-region stage's stacks take it when it is known. */
  readonly account?: string;
}

/**
 * The region of the relay's stack: none (environment-agnostic) without a firewall; with one, the target's, since a
 * reference to the us-east-1 web ACL from another region (`Fn::GetStackOutput`) needs both regions known at synth.
 */
export function relayRegion(config: StageConfig, target: DeployTarget): string | undefined {
  if (config.webhookFirewall === undefined || config.multiRegion !== undefined) return undefined;
  if (target.region === undefined || target.region === '') {
    throw new StageConfigError(
      `Stage "${config.stage}": webhookFirewall needs the target region at synth (its web ACL lives in us-east-1): set AWS_REGION or a profile with a region.`,
    );
  }
  return target.region;
}

/**
 * Adds the stage's stacks and the cdk-nag checks to `app`: the composition `cdk synth` runs and the CDK tests
 * assert. The function bundles must already be built (`buildFunctions()`). Returns the relay's stack (of a
 * multi-region stage: the primary region's; the secondary's is `regionalStackName(stage, secondaryRegion)` in `app`).
 */
export function composeGraphRelayApp(app: App, config: StageConfig, target: DeployTarget = {}): GraphRelayStack {
  const stack = config.multiRegion === undefined ? singleRegionStack(app, config, target) : multiRegionStacks(app, config, target)[0]!;
  // Any unacknowledged finding, warning or error, fails the synth; acknowledgements sit next to their resources.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return stack;
}

/** Stack name of a multi-region stage's region. */
export function regionalStackName(stage: string, region: string): string {
  return `GraphRelay-${stage}-${region}`;
}

/**
 * A stack per region, `GraphRelay-<stage>-<region>`, primary first: the primary's creates the global table with the
 * secondary's replica, so the secondary's depends on it (`cdk deploy --all` deploys them in that order).
 */
function multiRegionStacks(app: App, config: StageConfig, target: DeployTarget): GraphRelayStack[] {
  const { primaryRegion, secondaryRegion } = config.multiRegion!;
  const stacks: GraphRelayStack[] = [];
  for (const region of [primaryRegion, secondaryRegion]) {
    const stack = new GraphRelayStack(app, regionalStackName(config.stage, region), {
      config,
      relayRegion: region,
      env: { region, ...(target.account === undefined || target.account === '' ? {} : { account: target.account }) },
      description: `Microsoft Graph change notifications relayed to EventBridge (${config.stage}, ${region === primaryRegion ? 'primary' : 'secondary'} region ${region})`,
      tags: { project: 'graph-relay', stage: config.stage },
    });
    for (const earlier of stacks) stack.addStackDependency(earlier, 'the global table and its replica are created by the primary region\'s stack');
    stacks.push(stack);
  }
  return stacks;
}

function singleRegionStack(app: App, config: StageConfig, target: DeployTarget): GraphRelayStack {
  const region = relayRegion(config, target);
  const firewall =
    config.webhookFirewall === undefined
      ? undefined
      : new WebhookFirewallStack(app, `GraphRelay-${config.stage}-Firewall`, {
          firewall: config.webhookFirewall,
          description: `Web ACL of the graph-relay webhook (${config.stage}); CloudFront takes web ACLs from us-east-1 only`,
          tags: { project: 'graph-relay', stage: config.stage },
        });

  // Environment-agnostic on purpose when it can be: nothing is looked up, and ARNs keep their pseudo parameters, so
  // the template (and the cdk-nag findings acknowledged by ARN) are the same whoever synthesizes it.
  const stack = new GraphRelayStack(app, `GraphRelay-${config.stage}`, {
    config,
    ...(firewall === undefined ? {} : { webAclArn: firewall.webAclArn, env: { region } }),
    description: `Microsoft Graph change notifications relayed to EventBridge (${config.stage})`,
    tags: { project: 'graph-relay', stage: config.stage },
  });
  return stack;
}
