/**
 * `migrate`: the table migrations (shared/store/migrations) run by hand, the same code `cdk deploy` runs: subscription
 * items filed under their connection, then the tenant route items the intake routes by. Idempotent: a second run
 * reports nothing to do.
 */
import type { TableMigrationReport } from '../../shared/store/migrations';
import { integrationIdSchema } from '../../shared/store/items';
import type { CommandContext } from '../context';
import { CommandFailedError, parseArg, printJson, type Output } from '../output';

export interface MigrateArgs {
  integration?: string;
  dryRun?: boolean;
  json?: boolean;
}

export function parseMigrateArgs(args: MigrateArgs): MigrateArgs {
  return { ...args, ...(args.integration === undefined ? {} : { integration: parseArg(integrationIdSchema, args.integration, '--integration') }) };
}

/** A progress line at most this often (ms), on stderr. */
const PROGRESS_INTERVAL_MS = 2_000;

export async function migrate(context: CommandContext, args: MigrateArgs, output: Output): Promise<void> {
  const migrations = context.migrations;
  if (migrations === undefined) throw new CommandFailedError('migrate needs direct access to the connections table');
  if (args.integration !== undefined && (await context.store.getIntegration(args.integration)) === undefined) {
    throw new CommandFailedError(`integration "${args.integration}" does not exist`);
  }
  const dryRun = args.dryRun === true;
  let lastProgress = Date.now();
  const report: TableMigrationReport = await migrations.run({
    dryRun,
    ...(args.integration === undefined ? {} : { integrationId: args.integration }),
    onProgress: (progress) => {
      if (Date.now() - lastProgress < PROGRESS_INTERVAL_MS) return;
      lastProgress = Date.now();
      if (progress.step === 'subscription-keys') {
        output.err(`graph-relay: migrate: subscriptions: ${progress.subscriptionKeys.scanned} scanned, ${progress.subscriptionKeys.updated} filed under their connection`);
      } else {
        const p = progress.routes;
        output.err(`graph-relay: migrate: routes of ${p.integrationId}: ${p.connectionsScanned} connections, ${p.routeItemsScanned} route items scanned; ${p.added} added, ${p.removed} removed`);
      }
    },
  });
  if (args.json) {
    printJson(output, report);
    return;
  }
  const { routes, subscriptionKeys } = report;
  const verb = dryRun ? 'would be ' : '';
  output.out(`subscriptions: ${subscriptionKeys.scanned} scanned; ${subscriptionKeys.updated} ${verb}filed under their connection`);
  output.out(
    `routes: ${routes.integrations} integration(s), ${routes.connectionsScanned} connections and ${routes.routeItemsScanned} route items scanned; ` +
      `${routes.added} memberships ${verb}added, ${routes.removed} ${verb}removed`,
  );
  if (routes.invalidConnections > 0) output.out(`${routes.invalidConnections} connection item(s) do not parse and route nowhere: see graph-relay connections list`);
  const changes = routes.added + routes.removed + subscriptionKeys.updated;
  if (dryRun) output.out('dry run: nothing was written; run without --dry-run to apply');
  else if (changes === 0) output.out('nothing to do: the table is up to date');
  else output.out('done; running intakes use the new routes within one registry refresh (30 s)');
}
