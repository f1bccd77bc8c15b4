import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Template } from 'aws-cdk-lib/assertions';
import { GraphRelayStack } from '../../infra/graph-relay-stack';
import { parseStageConfig, type StageConfig, type StageName } from '../../infra/stage-config';

/** The feature flags `cdk synth` runs with, so the assertions see the template that gets deployed. */
export const cdkJsonContext = (JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
}).context;

/**
 * For suites that do not test the bundles: every function gets inline code instead of its built folder, so the
 * suite neither needs dist/ nor races graph-relay-stack.test.ts, which rebuilds it (a rebuild removes the folder
 * that a parallel synth reads). Call at the top level of the suite.
 */
export function withInlineFunctionCode(): void {
  beforeAll(() => {
    jest.spyOn(lambda.Code, 'fromAsset').mockImplementation(() => lambda.Code.fromInline('export const handler = async () => undefined;') as unknown as lambda.AssetCode);
  });
}

/** The stack alone, for a stage or a stage config made for the test: assertions do not depend on cdk-nag. */
export function stackOnly(stage: StageName | StageConfig) {
  const config = typeof stage === 'string' ? parseStageConfig(stage) : stage;
  const app = new App({ context: { ...cdkJsonContext, stage: config.stage } });
  const stack = new GraphRelayStack(app, `GraphRelay-${config.stage}`, { config });
  return { app, stack };
}

export type CfnResource = { Type: string; Properties: Record<string, unknown> } & Record<string, unknown>;

/** The single resource of a type, with its logical id; fails if there is not exactly one. */
export function soleResource(template: Template, type: string): [string, CfnResource] {
  const found = Object.entries(template.findResources(type)) as [string, CfnResource][];
  expect(found).toHaveLength(1);
  return found[0]!;
}

/** The single resource of a type whose logical id starts with `prefix` (the construct's path in the stack). */
export function resourceIn(template: Template, type: string, prefix: string): [string, CfnResource] {
  const found = (Object.entries(template.findResources(type)) as [string, CfnResource][]).filter(([id]) => id.startsWith(prefix));
  expect(found).toHaveLength(1);
  return found[0]!;
}

/** Every resource of a type, with its logical id. */
export function resourcesOf(template: Template, type: string): [string, CfnResource][] {
  return Object.entries(template.findResources(type)) as [string, CfnResource][];
}

export function byJson(a: unknown, b: unknown): number {
  return JSON.stringify(a).localeCompare(JSON.stringify(b));
}
