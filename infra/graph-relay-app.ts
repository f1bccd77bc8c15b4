import { Validations, type App } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { GraphRelayStack } from './graph-relay-stack';
import type { StageConfig } from './stage-config';

/**
 * Adds the stage's stack and the cdk-nag checks to `app`: the composition `cdk synth` runs and the CDK tests
 * assert. The function bundles must already be built (`buildFunctions()`).
 */
export function composeGraphRelayApp(app: App, config: StageConfig): GraphRelayStack {
  // Environment-agnostic on purpose: nothing is looked up, and ARNs keep their pseudo parameters, so the template
  // (and the cdk-nag findings acknowledged by ARN) are the same whoever synthesizes it.
  const stack = new GraphRelayStack(app, `GraphRelay-${config.stage}`, {
    config,
    description: `Microsoft Graph change notifications relayed to EventBridge (${config.stage})`,
    tags: { project: 'graph-relay', stage: config.stage },
  });

  // Any unacknowledged finding, warning or error, fails the synth; acknowledgements sit next to their resources.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return stack;
}
