import { CustomResource, Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { TABLE_MIGRATIONS_VERSION } from '../../shared/store/migrations';
import { GraphRelayFunction, type RelayFunctionContext } from './house-function';

/**
 * Runs the table migrations (shared/store/migrations) during `cdk deploy`, as a custom resource answered by the
 * function itself: an upgraded stack's existing items get what the new code needs (route items, subscription
 * keys) before the functions that need them change, so a deployed stack keeps routing through the upgrade. It runs
 * on the first deploy and whenever TABLE_MIGRATIONS_VERSION moves; `graph-relay migrate` runs the same code.
 */
export class TableMigration extends Construct {
  readonly function: GraphRelayFunction;
  readonly resource: CustomResource;

  constructor(scope: Construct, id: string, props: RelayFunctionContext) {
    super(scope, id);
    this.function = new GraphRelayFunction(this, 'Migrate', {
      ...props,
      name: 'migrate',
      // Lambda's maximum: a table of 50,000 connections and 150,000 subscriptions takes a few minutes.
      timeout: Duration.minutes(15),
    });
    // Pages (Query), membership checks (BatchGetItem), filed keys and routes (UpdateItem), emptied routes (DeleteItem).
    props.connections.table.grant(this.function.function, 'dynamodb:Query', 'dynamodb:BatchGetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');
    this.resource = new CustomResource(this, 'Migration', {
      serviceToken: this.function.function.functionArn,
      resourceType: 'Custom::GraphRelayTableMigration',
      properties: { version: TABLE_MIGRATIONS_VERSION },
    });
  }
}
