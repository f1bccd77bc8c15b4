/**
 * CDK app: `cdk synth -c stage=dev|prod` (default dev). The stack deploys the function bundles as they are,
 * so they are built first.
 */
import { App } from 'aws-cdk-lib';
import { buildFunctions } from '../scripts/build';
import { composeGraphRelayApp } from './graph-relay-app';
import { parseStageConfig } from './stage-config';

const app = new App();
// Before bundling, so a mistyped stage fails at once.
const config = parseStageConfig(app.node.tryGetContext('stage'));
await buildFunctions();
composeGraphRelayApp(app, config);
