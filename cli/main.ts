import { Command, CommanderError, Option } from 'commander';
import {
  addConnection,
  collect,
  getConnection,
  listConnections,
  parseAddConnectionArgs,
  parseConnectionRef,
  parseListConnectionsArgs,
  parseSubscribeArgs,
  parseUnsubscribeArgs,
  removeConnection,
  subscribeConnection,
  unsubscribeConnection,
} from './commands/connections';
import { doctor, parseDoctorArgs } from './commands/doctor';
import {
  DEFAULT_TAIL_LIMIT,
  LOCAL_REPLAY_MESSAGE,
  parseReplayEventsArgs,
  parseTailEventsArgs,
  replayEvents,
  tailEvents,
  type ReplayEventsOptions,
  type TailEventsOptions,
} from './commands/events';
import { migrate, parseMigrateArgs } from './commands/migrate';
import { parseReconcileArgs, reconcileCommand } from './commands/reconcile';
import {
  createSubscription,
  deleteSubscription,
  parseCreateSubscriptionArgs,
  parseSubscriptionRefArgs,
  renewSubscription,
  resumeConnection,
} from './commands/subscription-changes';
import { listSubscriptions, parseListSubscriptionsArgs } from './commands/subscriptions';
import { parseResyncArgs, resyncSubscription } from './commands/resync';
import {
  DEFAULT_PROVIDER,
  listIntegrations,
  parsePutIntegrationArgs,
  parseRemoveIntegrationArgs,
  putIntegration,
  removeIntegration,
  STDIN_OPTIONS,
  type Prompt,
} from './commands/integrations';
import {
  createCertificate,
  DEFAULT_VALID_DAYS,
  listCertificates,
  MAX_VALID_DAYS,
  parseCertificateRefArgs,
  parseCreateCertificateArgs,
  removeCertificate,
} from './commands/certificates';
import { fileSystemSources } from './argument-sources';
import { explainCredentialsError, sdkPorts, type CommandContext, type GlobalOptions, type Ports } from './context';
import { CommandFailedError, EXIT_OK, EXIT_USAGE, PROGRAM, reportError, type Output } from './output';
import packageJson from '../package.json';

/** What `;resync` declares, for the --resync help of every command that takes it. */
const RESYNC = "changes missed while notifications were not arriving are to be caught up with the resource's Graph delta query (only resources that have one: README, 'Catch-up with delta queries')";

export interface RunDependencies {
  output: Output;
  ports: Ports;
  /** Starts listening for Ctrl-C; only `events tail --follow` needs it, so other commands keep the default. */
  interrupt: () => AbortSignal;
  /** All of stdin, for the secrets given as `-` (`what` names them); default: the process's stdin. */
  readStdin?: (what: string) => Promise<string>;
  /** Asks for a confirmation on the terminal; undefined when stdin is not one (then only --yes confirms). */
  prompt?: Prompt;
}

/** Parses `argv` (without node and script), runs the command and returns the exit code. Never throws. */
export async function run(argv: readonly string[], dependencies: RunDependencies): Promise<number> {
  try {
    await buildProgram(dependencies).parseAsync([...argv], { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) return commanderExit(error, dependencies.output);
    return reportError(dependencies.output, explainCredentialsError(error));
  }
}

export async function main(): Promise<void> {
  // `graph-relay … | head` closes the pipe early; that is the reader's choice, not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(EXIT_OK);
  });
  process.exitCode = await run(process.argv.slice(2), {
    output: {
      out: (line) => process.stdout.write(`${line}\n`),
      err: (line) => process.stderr.write(`${line}\n`),
    },
    ports: sdkPorts,
    ...(process.stdin.isTTY ? { prompt: terminalPrompt } : {}),
    interrupt() {
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      return controller.signal;
    },
  });
}

function buildProgram({ output, ports, interrupt, readStdin = readProcessStdin, prompt }: RunDependencies): Command {
  const program = new Command(PROGRAM)
    .description('Operate graph-relay: integrations, their webhook secrets, connections, subscriptions, and delivered events.')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => output.out(text.trimEnd()),
      writeErr: (text) => output.err(text.trimEnd()),
      // Usage errors are printed by commanderExit, as one line like every other error.
      outputError: () => {},
    })
    .version(packageJson.version, '--version', 'print the version of graph-relay')
    .option('--local', 'act on the local stack started with npm start (reads .graph-relay/local-stack.json of the working directory or the nearest parent holding one, or of GRAPH_RELAY_DATA_DIR)')
    .addOption(new Option('--stage <stage>', 'deployment stage; AWS mode reads stack GraphRelay-<stage>, or a multi-region stage\'s GraphRelay-<stage>-<region> in the CLI\'s region').default('dev').conflicts('local'))
    .addOption(new Option('--region <region>', 'AWS region (default: the AWS SDK configuration)').conflicts('local'))
    .option('--connections-table <name>', 'connections table name, instead of the stack output')
    .option('--webhook-secret-prefix <prefix>', 'webhook secret name prefix, instead of the stack output')
    .addHelpText(
      'after',
      `
Exit codes: 0 success, 1 the command failed, 2 the command line is wrong.

Examples:
  $ graph-relay --local integrations put contoso
  $ graph-relay integrations put contoso --client-id <guid> --client-secret - < client-secret.txt
  $ graph-relay --local connections add contoso conn-1 --tenant-id 84bd8158-6d4d-4958-8b9f-9d6445542f95 --subscribe users:created,updated,deleted
  $ graph-relay subscriptions list --expiring-within 24h
  $ graph-relay --local subscriptions create contoso conn-1 --resource users --change-type created,updated
  $ graph-relay reconcile --dry-run
  $ graph-relay --stage prod connections list --json
  $ graph-relay --stage prod connections resume contoso conn-1
  $ graph-relay --local events tail --follow
  $ graph-relay --stage prod doctor
  $ graph-relay --stage prod events replay --from 2026-11-25T08:00:00Z --to 2026-11-25T09:00:00Z --wait`,
    );

  // Commander checks required options before arguments, so `connections add contoso` would ask for --tenant-id
  // rather than the connection id: options made with requiredAfterArguments are checked once the arguments are.
  program.hook('preAction', (_program, command) => {
    for (const option of command.options) {
      if (REQUIRED_AFTER_ARGUMENTS.has(option) && command.getOptionValue(option.attributeName()) === undefined) {
        command.error(`error: required option '${option.flags}' not specified`, { code: 'commander.missingMandatoryOptionValue', exitCode: EXIT_USAGE });
      }
    }
  });

  // Arguments are parsed before this is called, so a bad command line never waits on AWS or the local stack.
  const withContext = async (command: Command, action: (context: CommandContext) => Promise<void>) => {
    const context = await ports.openContext(command.optsWithGlobals<GlobalOptions>());
    try {
      await action(context);
    } finally {
      context.close();
    }
  };

  const integrations = program.command('integrations').description('manage integrations, their webhook secrets, app credentials and encryption certificates');
  /** The secret options given as `-`, in command-line order: stdin holds their values one per line in this order. */
  const stdinOrder: string[] = [];
  const put = integrations
    .command('put')
    .description('create or update an integration, its webhook secret (generated and printed once when missing), app credentials and encryption certificates')
    .argument('<integrationId>', 'integration id, as in the notificationUrl and the Nango providerConfigKey')
    .option('--provider <provider>', `provider of the integration, every event's detail.from (kept when not given; ${DEFAULT_PROVIDER} for a new integration)`)
    .option('--webhook-secret <secret>', 'the clientState subscriptions send (16-128 printable characters); - reads it from stdin')
    .option('--previous-webhook-secret <secret>', 'a secret still accepted while subscriptions move to the new one; - reads it from stdin')
    .option('--rotate', 'generate a new secret; the current one stays accepted as the previous one')
    .option(
      '--shared-client-state <accepted|refused>',
      "whether the plain webhook secret is accepted as clientState for every tenant (subscriptions made outside graph-relay), besides each tenant's own value; kept when not given, accepted for a new integration",
    )
    .option('--client-id <guid>', "the app's client id in Microsoft Entra ID, for app-only Graph tokens; alone, for an integration that only receives (rich notifications' tokens are verified against it)")
    .option('--client-secret <secret>', "the app's client secret; - reads it from stdin")
    .option('--client-certificate-file <pem>', "one PEM file with the app's certificate and its unencrypted RSA private key")
    .option('--encryption-certificate-id <id>', 'add or replace the encryption certificate of this id, for rich notifications (repeatable; with the two flags below, paired in order)', collect)
    .option('--encryption-certificate-file <pem>', 'its PEM certificate (RSA 2048-4096 bits); may be the same file as the key (repeatable)', collect)
    .option('--encryption-key-file <pem>', 'its unencrypted PEM private key; may be the same file as the certificate (repeatable)', collect)
    .option('--current-encryption-certificate <id>', 'the encryption certificate new rich subscriptions use (default: the newest)')
    .option('--remove-encryption-certificate <id>', 'remove an encryption certificate; the current one only with another made current (repeatable)', collect)
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Secrets given as arguments stay in shell history and are visible to other users in ps: give - instead, and the
value is read from stdin (one trailing newline dropped). Several options given as - read one line each, in the
order they are given:
  $ graph-relay integrations put contoso --client-id <guid> --client-secret - < client-secret.txt
  $ printf '%s\\n' "$NEW_SECRET" "$OLD_SECRET" | graph-relay integrations put contoso --webhook-secret - --previous-webhook-secret -

Subscriptions graph-relay creates carry a clientState of their own tenant, derived from the webhook secret; one
tenant's value verifies nothing for another. Once no subscription carries the plain secret any more (see
graph-relay doctor), refuse it:
  $ graph-relay integrations put contoso --shared-client-state refused

Encryption certificates (private keys are stored in the secret, never printed):
  $ graph-relay integrations put contoso --encryption-certificate-id enc-2026 --encryption-certificate-file enc.pem --encryption-key-file enc.pem
  $ graph-relay integrations put contoso --current-encryption-certificate enc-2026 --remove-encryption-certificate enc-2025
Or generate one: graph-relay certificates create contoso`,
    )
    .action(async (integrationId: string, options, command: Command) => {
      const args = await parsePutIntegrationArgs({ integrationId, ...options, stdinOrder }, { ...fileSystemSources, readStdin });
      return withContext(command, (context) => putIntegration(context, args, output));
    });
  // Commander emits one event per option as it parses, in command-line order; a repeated option counts where it last appears.
  for (const { flag } of STDIN_OPTIONS) {
    put.on(`option:${flag.slice(2)}`, (value: unknown) => {
      const at = stdinOrder.indexOf(flag);
      if (at !== -1) stdinOrder.splice(at, 1);
      if (value === '-') stdinOrder.push(flag);
    });
  }
  integrations
    .command('list')
    .description('list integrations, whether their secret exists, which app credentials it holds, and its encryption certificates')
    .option('--json', 'print the result as JSON')
    .action((options, command: Command) => withContext(command, (context) => listIntegrations(context, options, output)));
  integrations
    .command('remove')
    .description('remove an integration: its subscriptions at Graph first, then its connections, subscription records, tenant routes, resync states, item and secret')
    .argument('<integrationId>', 'integration id')
    .option('--yes', 'remove without asking (required when stdin is not a terminal)')
    .option('--json', 'print the result (or, without --yes, what would be removed) as JSON')
    .addHelpText(
      'after',
      `
Without --yes it prints what it would remove and asks for the integration id on a terminal; elsewhere it stops
there (exit 2). If Graph refuses a delete, nothing else is removed: fix the cause and run it again.`,
    )
    .action((integrationId: string, options, command: Command) => {
      const args = parseRemoveIntegrationArgs({ integrationId, ...options });
      return withContext(command, (context) => removeIntegration(context, args, output, prompt));
    });

  const certificates = program
    .command('certificates')
    .description("manage an integration's encryption certificates: Graph encrypts rich notifications with them, the intake decrypts with their keys");
  certificates
    .command('create')
    .description('generate a self-signed RSA-2048 certificate and key, store them in the integration secret and make them current')
    .argument('<integrationId>', 'integration id')
    .option('--id <id>', 'its encryptionCertificateId (default: graph-relay-<yyyymmdd>, with a random suffix if taken)')
    .option('--valid-days <days>', `validity in days, at most ${MAX_VALID_DAYS}`, String(DEFAULT_VALID_DAYS))
    .option('--common-name <name>', 'subject common name (default: graph-relay <integrationId>)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
New rich subscriptions use the new certificate; existing ones keep working with the previous key until renewed.
The private key is stored in the integration's secret and never printed.`,
    )
    .action((integrationId: string, options, command: Command) => {
      const args = parseCreateCertificateArgs({ integrationId, ...options });
      return withContext(command, (context) => createCertificate(context, args, output));
    });
  certificates
    .command('list')
    .description('list encryption certificates: id, current, SHA-1 thumbprint (as Graph sends it), expiry and status; never keys')
    .argument('<integrationId>', 'integration id')
    .option('--json', 'print the result as JSON')
    .action((integrationId: string, options, command: Command) => {
      const args = parseCertificateRefArgs({ integrationId, ...options });
      return withContext(command, (context) => listCertificates(context, args, output));
    });
  certificates
    .command('remove')
    .description('remove an encryption certificate (not the current one: make another current first)')
    .argument('<integrationId>', 'integration id')
    .argument('<id>', 'the encryption certificate id')
    .option('--json', 'print the result as JSON')
    .action((integrationId: string, id: string, options, command: Command) => {
      const args = parseCertificateRefArgs({ integrationId, id, ...options });
      return withContext(command, (context) => removeCertificate(context, args, output));
    });

  const connections = program.command('connections').description('manage the connections notifications are routed to');
  connections
    .command('add')
    .description("add a connection: notifications of the tenant are routed to it")
    .argument('<integrationId>', 'integration id')
    .argument('<connectionId>', 'connection id, as in Nango')
    .addOption(requiredAfterArguments('--tenant-id <guid>', "the connection's Microsoft Entra tenant id"))
    .option('--subscribe <resource:changeTypes>', 'a Graph subscription the connection wants, e.g. users:created,updated,deleted (repeatable)', collect)
    .option('--include-resource-data', 'the --subscribe values ask for rich notifications (resource data, encrypted with the integration\'s certificate)')
    .option('--resync', `the --subscribe values declare (as ;resync after the change types) that ${RESYNC}`)
    .option('--json', 'print the result as JSON')
    .action((integrationId: string, connectionId: string, options, command: Command) => {
      const args = parseAddConnectionArgs({ integrationId, connectionId, ...options });
      return withContext(command, (context) => addConnection(context, args, output));
    });
  connections
    .command('list')
    .description("list connections, of every integration or of one")
    .option('--integration <integrationId>', 'only this integration')
    .option('--json', 'print the result as JSON')
    .action((options, command: Command) => {
      const args = parseListConnectionsArgs(options);
      return withContext(command, (context) => listConnections(context, args, output));
    });
  connections
    .command('get')
    .description('show one connection')
    .argument('<integrationId>', 'integration id')
    .argument('<connectionId>', 'connection id')
    .option('--json', 'print the result as JSON')
    .action((integrationId: string, connectionId: string, options, command: Command) => {
      const args = parseConnectionRef({ integrationId, connectionId, ...options });
      return withContext(command, (context) => getConnection(context, args, output));
    });
  connections
    .command('remove')
    .description('remove a connection')
    .argument('<integrationId>', 'integration id')
    .argument('<connectionId>', 'connection id')
    .action((integrationId: string, connectionId: string, _options, command: Command) => {
      const args = parseConnectionRef({ integrationId, connectionId });
      return withContext(command, (context) => removeConnection(context, args, output));
    });

  connections
    .command('resume')
    .description("after the tenant's admin granted consent again: renew the connection's needs-consent and failed subscriptions, then mark it active")
    .argument('<integrationId>', 'integration id')
    .argument('<connectionId>', 'connection id')
    .option('--json', 'print the result as JSON')
    .action((integrationId: string, connectionId: string, options, command: Command) => {
      const args = parseConnectionRef({ integrationId, connectionId, ...options });
      return withContext(command, (context) => resumeConnection(context, args, output));
    });

  connections
    .command('subscribe')
    .description('declare a Graph subscription the connection wants')
    .argument('<integrationId>', 'integration id')
    .argument('<connectionId>', 'connection id')
    .argument('<resource:changeTypes>', 'e.g. users:created,updated,deleted or users/<id>/messages:created[;includeResourceData][;resync]')
    .option('--include-resource-data', 'ask for rich notifications (the same as ;includeResourceData after the change types)')
    .option('--resync', `declare (as ;resync after the change types) that ${RESYNC}; given or not, it replaces the setting of a declaration already there`)
    .option('--json', 'print the connection as JSON')
    .action((integrationId: string, connectionId: string, declaration: string, options, command: Command) => {
      const args = parseSubscribeArgs({ integrationId, connectionId, declaration, ...options });
      return withContext(command, (context) => subscribeConnection(context, args, output));
    });
  connections
    .command('unsubscribe')
    .description('remove a declared Graph subscription from the connection')
    .argument('<integrationId>', 'integration id')
    .argument('<connectionId>', 'connection id')
    .argument('<resource:changeTypes>', 'as declared (change types in any order)')
    .option('--json', 'print the connection as JSON')
    .action((integrationId: string, connectionId: string, declaration: string, options, command: Command) => {
      const args = parseUnsubscribeArgs({ integrationId, connectionId, declaration, ...options });
      return withContext(command, (context) => unsubscribeConnection(context, args, output));
    });

  const subscriptions = program.command('subscriptions').description('inspect and change the Graph subscriptions graph-relay created');
  subscriptions
    .command('list')
    .description('list recorded subscriptions, the earliest expiry first')
    .option('--integration <integrationId>', 'only this integration')
    .option('--connection <connectionId>', 'only this connection')
    .option('--expiring-within <duration>', 'only those expiring within this long from now, e.g. 90m, 24h, 2d')
    .option('--json', 'print the result as JSON')
    .action((options, command: Command) => {
      const args = parseListSubscriptionsArgs(options);
      return withContext(command, (context) => listSubscriptions(context, args, output));
    });
  subscriptions
    .command('create')
    .description("create a Graph subscription now, declared on the connection so renewal and the reconciler keep it")
    .argument('<integrationId>', 'integration id')
    .argument('<connectionId>', 'connection id')
    .addOption(requiredAfterArguments('--resource <resource>', 'the Graph resource, e.g. users or users/<id>/messages'))
    .addOption(requiredAfterArguments('--change-type <types>', 'comma-separated: created, updated, deleted'))
    .option('--expires-in <duration>', "a lifetime shorter than the resource's maximum (the default), e.g. 90m, 24h, 2d")
    .option('--include-resource-data', "rich notifications: resource data encrypted with the integration's current certificate (shorter maximum lifetime)")
    .option('--resync', `the declaration also declares (;resync) that ${RESYNC}`)
    .option('--json', 'print the result as JSON')
    .action((integrationId: string, connectionId: string, options, command: Command) => {
      const args = parseCreateSubscriptionArgs({ integrationId, connectionId, ...options });
      return withContext(command, (context) => createSubscription(context, args, output));
    });
  subscriptions
    .command('renew')
    .description('renew a subscription to its maximum expiry now, as the schedule would (recreated if Graph no longer has it)')
    .argument('<subscriptionId>', 'the Graph subscription id')
    .option('--integration <integrationId>', 'the integration that records it (default: whichever does)')
    .option('--json', 'print the result as JSON')
    .action((subscriptionId: string, options, command: Command) => {
      const args = parseSubscriptionRefArgs({ subscriptionId, ...options });
      return withContext(command, (context) => renewSubscription(context, args, output));
    });
  subscriptions
    .command('delete')
    .description('delete a subscription at Graph (already gone is fine), then its record')
    .argument('<subscriptionId>', 'the Graph subscription id')
    .option('--integration <integrationId>', 'the integration that records it (default: whichever does)')
    .option('--json', 'print the result as JSON')
    .action((subscriptionId: string, options, command: Command) => {
      const args = parseSubscriptionRefArgs({ subscriptionId, ...options });
      return withContext(command, (context) => deleteSubscription(context, args, output));
    });

  subscriptions
    .command('resync')
    .description("catch up on changes Graph's notifications missed: publish them from the resource's delta query, as the resync function does")
    .argument('<subscriptionId>', 'the Graph subscription id (its connection must declare it with ;resync)')
    .option('--integration <integrationId>', 'the integration that records it (default: whichever does)')
    .option('--full', 'publish every current object, not only the changes since the last delta link')
    .option('--queue', 'ask the resync function on the resync queue instead of running here')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Incremental (the default): the changes since the declaration's last delta link, then a new one. Without a delta
link yet, or one Graph no longer honours (410, SyncStateNotFound), the run is full anyway.
Full (--full): every current object, published as a change notification whatever consumers already have: they
receive objects again that they may hold already.

It runs under the resync function's lease: while the function runs this declaration it says so and exits 1 (try
again later, or use --queue). Progress goes to stderr, one line per page. Runs past the function's deadline and
Graph's throttling simply go on here. Exit code 0 when the run completed, 1 when it failed, was busy or was skipped
(with what to do).`,
    )
    .action((subscriptionId: string, options, command: Command) => {
      const args = parseResyncArgs({ subscriptionId, ...options });
      return withContext(command, (context) => resyncSubscription(context, args, output));
    });

  program
    .command('reconcile')
    .description("make Graph match the connections' declared subscriptions: create what is missing, delete what is no longer declared")
    .option('--integration <integrationId>', 'only this integration')
    .option('--connection <connectionId>', 'only this connection (with --integration)')
    .option('--dry-run', 'print what would change; no Graph call, no write')
    .option('--json', 'print the report as JSON')
    .action((options, command: Command) => {
      const args = parseReconcileArgs(options);
      return withContext(command, (context) => reconcileCommand(context, args, output));
    });

  program
    .command('migrate')
    .description('after an upgrade or a restore: backfill the items a newer graph-relay needs (subscription connection keys, tenant route items), a page at a time; safe to run again')
    .option('--integration <integrationId>', 'only this integration')
    .option('--dry-run', 'count what would change; write nothing')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nProgress goes to stderr every 2 s. Exit code 0 when the table is up to date (or, with --dry-run, when the count was made).')
    .action((options, command: Command) => {
      const args = parseMigrateArgs(options);
      return withContext(command, (context) => migrate(context, args, output));
    });

  program
    .command('doctor')
    .description(
      "check the stack end to end: the webhook's validation handshake, secrets and credentials, the renewal schedule, subscriptions and connections, the ;resync catch-ups (baseline age, last run), the webhook requests refused today and yesterday, and, for a multi-region stage (or a local stack with the writer lease on), each region's /health, the Graph writer lease and replication",
    )
    .option('--json', 'print the checks as JSON')
    .addHelpText(
      'after',
      '\nOne line per check: ✓ passed, ⚠ worth a look (never fails), ✗ failed, with the command that fixes it. Exit code 0 when no check failed, 1 when any failed.',
    )
    .action((options, command: Command) => {
      const args = parseDoctorArgs(options);
      return withContext(command, (context) => doctor(context, args, output));
    });

  const events = program.command('events').description('watch delivered events (local stack) and replay archived ones (AWS)');
  events
    .command('tail')
    .description("print the local stack's last delivered events, one line each")
    .option('--limit <n>', 'how many of the last events to print', String(DEFAULT_TAIL_LIMIT))
    .option('--follow', 'keep printing new events until Ctrl-C')
    .option('--json', 'print each event as its JSON line')
    .action(async (options: TailEventsOptions, command: Command) => {
      const args = parseTailEventsArgs(options);
      const file = await ports.eventsFile(command.optsWithGlobals<GlobalOptions>());
      await tailEvents(file, args, output, args.follow ? interrupt() : undefined);
    });
  events
    .command('replay')
    .description("replay the bus archive's events of a time range onto the bus (EventBridge marks them with replay-name)")
    .requiredOption('--from <time>', 'start of the range, ISO 8601 with a zone, e.g. 2026-11-25T08:00:00Z')
    .requiredOption('--to <time>', 'end of the range (not in the future)')
    .option('--rule <name>', "only to this rule's targets (a rule on the stack's bus)")
    .option('--wait', 'poll until the replay completed, failed or was cancelled; progress on stderr')
    .option('--json', 'print the replay as JSON')
    .action(async (options: ReplayEventsOptions, command: Command) => {
      const args = parseReplayEventsArgs(options);
      if (command.optsWithGlobals<GlobalOptions>().local) throw new CommandFailedError(LOCAL_REPLAY_MESSAGE);
      return withContext(command, (context) => replayEvents(context, args, output));
    });

  return program;
}

/** One line typed on the terminal, the question on stderr (stdout carries results only). */
async function terminalPrompt(question: string): Promise<string> {
  const { createInterface } = await import('node:readline/promises');
  const terminal = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await terminal.question(question);
  } finally {
    terminal.close();
  }
}

const REQUIRED_AFTER_ARGUMENTS = new WeakSet<Option>();

/** A required option of a command that also takes arguments: a missing argument is reported first. */
function requiredAfterArguments(flags: string, description: string): Option {
  const option = new Option(flags, `${description} (required)`);
  REQUIRED_AFTER_ARGUMENTS.add(option);
  return option;
}

async function readProcessStdin(what: string): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write(`reading ${what} from stdin (end with Enter, then Ctrl-D)\n`);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

function commanderExit(error: CommanderError, output: Output): number {
  if (error.exitCode === 0) return EXIT_OK;
  // `commander.help` is a bare `graph-relay` or group name: the help it printed already says what is missing.
  if (error.code !== 'commander.help') {
    output.err(`${PROGRAM}: ${error.message.replace(/^error: /, '')} (see --help)`);
  }
  return EXIT_USAGE;
}
