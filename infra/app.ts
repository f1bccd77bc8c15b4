/**
 * CDK app: `cdk synth -c stage=dev|prod` (default dev). The stack deploys the function bundles as they are,
 * so they are built first. A multi-region stage has a stack per region: `cdk deploy --all -c stage=<stage>`.
 */
import { App } from 'aws-cdk-lib';
import { buildFunctions } from '../scripts/build';
import { composeGraphRelayApp, relayRegion, type DeployTarget } from './graph-relay-app';
import { parseStageConfig, StageConfigError, type StageConfig } from './stage-config';

const app = new App();

// Before bundling, so a mistyped stage or a bad stage entry fails at once and with one line, not a stack trace.
let config: StageConfig;
const target: DeployTarget = { region: process.env['CDK_DEFAULT_REGION'], account: process.env['CDK_DEFAULT_ACCOUNT'] };
try {
  config = parseStageConfig(app.node.tryGetContext('stage'));
  relayRegion(config, target);
} catch (error) {
  if (!(error instanceof StageConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}

await buildFunctions();
composeGraphRelayApp(app, config, target);
