import { ArnFormat, Token, Validations, type Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { GraphRelayFunction } from './house-function';

/**
 * The stage's integration secrets, `<prefix><integrationId>`. The operator CLI creates one per integration, so none
 * exists at deploy time: a function reading them is granted the whole prefix.
 */
export class IntegrationSecrets {
  /** ARN pattern covering every integration secret of the stage. */
  readonly arn: string;
  /** cdk-nag's name of the wildcard finding on `arn`. */
  private readonly finding: string;

  /** `prefix`: the Secrets Manager name prefix of the stage's integration secrets. */
  constructor(
    stack: Stack,
    readonly prefix: string,
  ) {
    this.arn = stack.formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: `${prefix}*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    // cdk-nag names a finding by the ARN as synthesized: pseudo parameters, or the region (and its partition) and the
    // account when the stack has them (a stage behind the firewall; a multi-region stage deployed with a known account).
    const pseudo = (value: string, name: string) => (Token.isUnresolved(value) ? `<AWS::${name}>` : value);
    this.finding = `AwsSolutions-IAM5[Resource::arn:${pseudo(stack.partition, 'Partition')}:secretsmanager:${pseudo(stack.region, 'Region')}:${pseudo(stack.account, 'AccountId')}:secret:${prefix}*]`;
  }

  /**
   * secretsmanager:GetSecretValue on every integration secret, and the wildcard acknowledged on the function.
   * `reader` says what the function reads them for (the acknowledgement's reason begins with it).
   */
  grantRead(fn: GraphRelayFunction, reader?: string): void {
    iam.Grant.addToPrincipal({ grantee: fn.function, actions: ['secretsmanager:GetSecretValue'], resourceArns: [this.arn] });
    const why =
      'one secret per integration, created later by the operator CLI; the wildcard is bounded to this stage\'s integration prefix (and covers the random suffix Secrets Manager appends).';
    Validations.of(fn).acknowledge({ id: this.finding, reason: reader === undefined ? why.charAt(0).toUpperCase() + why.slice(1) : `${reader}: ${why}` });
  }
}
