/**
 * `reconcile`: the reconciler (shared/subscriptions/reconcile.ts) run by hand, the same code as the stack's, with
 * each planned or applied change printed by describeChange.
 */
import { connectionIdSchema, integrationIdSchema } from '../../shared/store/items';
import { describeChange, reconcile, type FailedChange, type ReconcileReport } from '../../shared/subscriptions/reconcile';
import type { CommandContext } from '../context';
import { CommandFailedError, parseArg, printJson, UsageError, warn, type Output } from '../output';
import { encryptionCertificateOf, notificationUrlOf, webhookBaseUrlOf } from './subscription-changes';

export interface ReconcileArgs {
  integration?: string;
  connection?: string;
  dryRun?: boolean;
  json?: boolean;
}

/** No Lambda timeout to stop before: this bounds a run that Graph keeps throttling. */
const RUN_BUDGET_MS = 30 * 60_000;
/** A progress line on stderr every this many applied changes. */
const PROGRESS_EVERY = 25;

export function parseReconcileArgs(args: ReconcileArgs): ReconcileArgs {
  if (args.connection !== undefined && args.integration === undefined) {
    throw new UsageError('--connection needs --integration: a connection id is unique within its integration only');
  }
  return {
    ...args,
    ...(args.integration === undefined ? {} : { integration: parseArg(integrationIdSchema, args.integration, '--integration') }),
    ...(args.connection === undefined ? {} : { connection: parseArg(connectionIdSchema, args.connection, '--connection') }),
  };
}

export async function reconcileCommand(context: CommandContext, args: ReconcileArgs, output: Output): Promise<void> {
  const dryRun = args.dryRun === true;
  // Creates need it; refused before any change rather than once per change.
  if (!dryRun) webhookBaseUrlOf(context);
  if (args.integration !== undefined && (await context.store.getIntegration(args.integration)) === undefined) {
    throw new CommandFailedError(`integration "${args.integration}" does not exist`);
  }
  let applied = 0;
  const report = await reconcile(
    {
      connections: context.store,
      createFailures: context.store,
      store: context.subscriptions,
      graphFor: (id) => context.graph.graphFor(id),
      webhookSecretOf: (id) => context.graph.webhookSecretOf(id),
      encryptionCertificateOf: (id) => encryptionCertificateOf(context, id),
      notificationUrlFor: (id) => notificationUrlOf(context, id),
      logger: {
        info(message) {
          if (message !== 'subscription created' && message !== 'subscription deleted') return;
          applied += 1;
          if (applied % PROGRESS_EVERY === 0) output.err(`graph-relay: reconcile: ${applied} changes applied so far`);
        },
        warn: () => undefined,
        error: (message, fields) => warn(output, `${message}: ${String(fields['error'] ?? '')}`),
      },
      clock: { now: () => Date.now() },
    },
    {
      dryRun,
      deadline: Date.now() + RUN_BUDGET_MS,
      ...(args.integration === undefined ? {} : { integrationId: args.integration }),
      ...(args.connection === undefined ? {} : { connectionId: args.connection }),
    },
  );
  for (const item of report.invalidItems) warn(output, `skipped invalid item ${item.sk}${item.integrationId === '' ? '' : ` of integration "${item.integrationId}"`}: ${item.reason}`);
  if (report.unindexed > 0) {
    warn(
      output,
      report.dryRun
        ? `${report.unindexed} subscription records are not filed under their connection yet (written before the ByConnection index): their integrations' connections are planned once a run has filed them`
        : `filed ${report.unindexed} subscription records under their connection (written before the ByConnection index): their integrations' connections are planned by the next run`,
    );
  }
  if (args.json) printJson(output, report);
  else printReport(report, output);
  if (report.failed.length > 0) {
    throw new CommandFailedError(`reconcile: ${report.failed.length} of ${report.planned.create.length + report.planned.delete.length} changes failed`);
  }
}

function printReport(report: ReconcileReport, output: Output): void {
  const { dryRun } = report;
  if (dryRun) {
    for (const change of [...report.planned.create, ...report.planned.delete]) output.out(describeChange(change, { dryRun }));
  } else {
    for (const change of report.created) output.out(`${describeChange(change, { dryRun })}: created ${change.subscriptionId}, expires ${change.expiresAt}`);
    for (const change of report.deleted) output.out(`${describeChange(change, { dryRun })}${change.atGraph === 'already-gone' ? ' (already gone at Graph)' : ''}`);
    for (const failure of report.failed) output.out(`FAILED ${describeChange(failure.change, { dryRun })}: ${describeFailure(failure)}`);
    for (const change of report.deferred) output.out(`deferred ${describeChange(change, { dryRun })}: throttled, left for the next run`);
  }
  for (const skip of report.planned.skipped) output.out(describeChange(skip, { dryRun }));
  // Only the kept records worth a look: not active, or kept although nothing declares them.
  for (const keep of report.planned.keep) if (keep.status !== 'active' || keep.reason !== undefined) output.out(describeChange(keep, { dryRun }));
  for (const invalid of report.invalidDeclarations) output.out(`ignored ${invalid.integrationId}/${invalid.connectionId}: ${invalid.reason}`);
  const { create, delete: deletes, keep, skipped } = report.planned;
  // Said only when there are some, so the summary of a run without consent trouble reads as before.
  const skips = skipped.length === 0 ? '' : `, ${dryRun ? 'would skip' : 'skipped'} ${skipped.length} (connection needs consent)`;
  output.out(
    dryRun
      ? `dry run: would create ${create.length}, delete ${deletes.length}${skips}; ${keep.length} kept; ${report.invalidDeclarations.length} invalid declarations`
      : `created ${report.created.length}, deleted ${report.deleted.length}, failed ${report.failed.length}, deferred ${report.deferred.length}${skips}; ` +
          `${keep.length} kept; ${report.invalidDeclarations.length} invalid declarations`,
  );
}

function describeFailure(failure: FailedChange): string {
  // Graph's messages already name the status; its request-id is what Microsoft support asks for.
  const requestId = failure.requestId === undefined ? '' : ` (request-id ${failure.requestId})`;
  return `${failure.reason}: ${failure.message}${requestId}`;
}
