import * as iam from 'aws-cdk-lib/aws-iam';

/** For a construct other accounts reach into: the stage's consumerAccounts. */
export interface ConsumerAccounts {
  /** Other accounts (12-digit ids) and organizations (`o-…` ids) with access; absent or empty: none. */
  readonly consumerAccounts?: readonly string[];
}

export interface ConsumerStatementsProps {
  /** The stage's consumerAccounts: 12-digit account ids and `o-…` organization ids (checked in stage-config.ts). */
  readonly consumers: readonly string[];
  /** Prefix of the statements' ids: `<sid>Accounts`, `<sid>Organizations`. */
  readonly sid: string;
  readonly actions: readonly string[];
  readonly resources: readonly string[];
  /** Conditions every statement carries, on top of the organization one. */
  readonly conditions?: Record<string, Record<string, unknown>>;
}

/**
 * Resource-policy statements granting other accounts: one naming the accounts, one for any account of the
 * organizations (`aws:PrincipalOrgID`); none for an empty list.
 */
export function consumerStatements({ consumers, sid, actions, resources, conditions = {} }: ConsumerStatementsProps): iam.PolicyStatement[] {
  const accounts = consumers.filter((consumer) => !consumer.startsWith('o-'));
  const organizations = consumers.filter((consumer) => consumer.startsWith('o-'));
  const statements: iam.PolicyStatement[] = [];
  if (accounts.length > 0) {
    statements.push(new iam.PolicyStatement({ sid: `${sid}Accounts`, principals: accounts.map((account) => new iam.AccountPrincipal(account)), actions: [...actions], resources: [...resources], conditions }));
  }
  if (organizations.length > 0) {
    statements.push(
      new iam.PolicyStatement({
        sid: `${sid}Organizations`,
        principals: [new iam.AnyPrincipal()],
        actions: [...actions],
        resources: [...resources],
        conditions: { StringEquals: { 'aws:PrincipalOrgID': organizations }, ...conditions },
      }),
    );
  }
  return statements;
}
