import { RemovalPolicy, type CfnResource } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** The stage's `retainData`, for a construct holding data (a table, the payload bucket, a key, logs). */
export interface DataRetention {
  /** Production keeps what holds data if the stack or the resource goes away. */
  readonly retainData: boolean;
}

export function removalPolicyOf(retention: DataRetention): RemovalPolicy {
  return retention.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
}

/**
 * Fixes the logical id of an L2 construct's resource, whatever the construct tree becomes: a new one would replace
 * the resource and lose what it holds, or what hangs off it (consumers' rules, subscriptions).
 */
export function pinLogicalId(construct: IConstruct, logicalId: string): void {
  (construct.node.defaultChild as CfnResource).overrideLogicalId(logicalId);
}
