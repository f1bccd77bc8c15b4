/**
 * `migrate`: backfills what a newer graph-relay needs of a table written by an older one, over the whole table, a
 * page at a time: the tenant route items the intake routes by (shared/routing/route-backfill.ts). Idempotent: run
 * it after every upgrade; a second run reports nothing to do.
 */
import type { RouteBackfillReport } from '../../shared/routing/route-backfill';
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
  const routes: RouteBackfillReport = await migrations.routes({
    dryRun,
    ...(args.integration === undefined ? {} : { integrationId: args.integration }),
    onProgress: (p) => {
      if (Date.now() - lastProgress < PROGRESS_INTERVAL_MS) return;
      lastProgress = Date.now();
      output.err(`graph-relay: migrate: ${p.integrationId}: ${p.connectionsScanned} connections, ${p.routeItemsScanned} route items scanned; ${p.added} added, ${p.removed} removed`);
    },
  });
  if (args.json) {
    printJson(output, { dryRun, routes });
    return;
  }
  const verb = dryRun ? 'would be ' : '';
  output.out(
    `routes: ${routes.integrations} integration(s), ${routes.connectionsScanned} connections and ${routes.routeItemsScanned} route items scanned; ` +
      `${routes.added} memberships ${verb}added, ${routes.removed} ${verb}removed`,
  );
  if (routes.invalidConnections > 0) output.out(`${routes.invalidConnections} connection item(s) do not parse and route nowhere: see graph-relay connections list`);
  if (dryRun) output.out('dry run: nothing was written; run without --dry-run to apply');
  else if (routes.added + routes.removed === 0) output.out('nothing to do: the table is up to date');
  else output.out('done; running intakes use the new routes within one registry refresh (30 s)');
}
