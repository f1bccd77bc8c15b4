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
import { DEFAULT_TAIL_LIMIT, parseTailEventsArgs, tailEvents, type TailEventsOptions } from './commands/events';
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
import { DEFAULT_PROVIDER, fileSystemSources, listIntegrations, parsePutIntegrationArgs, putIntegration } from './commands/integrations';
import { sdkPorts, type CommandContext, type GlobalOptions, type Ports } from './context';
import { EXIT_OK, EXIT_USAGE, PROGRAM, reportError, type Output } from './output';

export interface RunDependencies {
  output: Output;
  ports: Ports;
  /** Starts listening for Ctrl-C; only `events tail --follow` needs it, so other commands keep the default. */
  interrupt: () => AbortSignal;
  /** All of stdin, for `--client-secret -`; default: the process's stdin. */
  readStdin?: () => Promise<string>;
}

/** Parses `argv` (without node and script), runs the command and returns the exit code. Never throws. */
export async function run(argv: readonly string[], dependencies: RunDependencies): Promise<number> {
  try {
    await buildProgram(dependencies).parseAsync([...argv], { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) return commanderExit(error, dependencies.output);
    return reportError(dependencies.output, error);
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
    interrupt() {
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      return controller.signal;
    },
  });
}

function buildProgram({ output, ports, interrupt, readStdin = readProcessStdin }: RunDependencies): Command {
  const program = new Command(PROGRAM)
    .description('Operate graph-relay: integrations, their webhook secrets, connections, subscriptions, and delivered events.')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => output.out(text.trimEnd()),
      writeErr: (text) => output.err(text.trimEnd()),
      // Usage errors are printed by commanderExit, as one line like every other error.
      outputError: () => {},
    })
    .option('--local', 'act on the local stack started with npm start (reads <data-dir>/local-stack.json)')
    .addOption(new Option('--stage <stage>', 'deployment stage; AWS mode reads stack GraphRelay-<stage>').default('dev').conflicts('local'))
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
  $ graph-relay --local events tail --follow`,
    );

  // Arguments are parsed before this is called, so a bad command line never waits on AWS or the local stack.
  const withContext = async (command: Command, action: (context: CommandContext) => Promise<void>) => {
    const context = await ports.openContext(command.optsWithGlobals<GlobalOptions>());
    try {
      await action(context);
    } finally {
      context.close();
    }
  };

  const integrations = program.command('integrations').description('manage integrations, their webhook secrets and app credentials');
  integrations
    .command('put')
    .description('create or update an integration, its webhook secret (generated and printed once when missing) and app credentials')
    .argument('<integrationId>', 'integration id, as in the notificationUrl and the Nango providerConfigKey')
    .option('--provider <provider>', 'provider of the integration', DEFAULT_PROVIDER)
    .option('--webhook-secret <secret>', 'the clientState subscriptions send (16-128 printable characters)')
    .option('--previous-webhook-secret <secret>', 'a secret still accepted while subscriptions move to the new one')
    .option('--rotate', 'generate a new secret; the current one stays accepted as the previous one')
    .option('--client-id <guid>', "the app's client id in Microsoft Entra ID, for app-only Graph tokens")
    .option('--client-secret <secret>', "the app's client secret; - reads it from stdin (keeps it out of shell history)")
    .option('--client-certificate-file <pem>', "one PEM file with the app's certificate and its unencrypted RSA private key")
    .option('--json', 'print the result as JSON')
    .action(async (integrationId: string, options, command: Command) => {
      const args = await parsePutIntegrationArgs({ integrationId, ...options }, { ...fileSystemSources, readStdin });
      return withContext(command, (context) => putIntegration(context, args, output));
    });
  integrations
    .command('list')
    .description('list integrations, whether their secret exists and which app credentials it holds')
    .option('--json', 'print the result as JSON')
    .action((options, command: Command) => withContext(command, (context) => listIntegrations(context, options, output)));

  const connections = program.command('connections').description('manage the connections notifications are routed to');
  connections
    .command('add')
    .description("add a connection: notifications of the tenant are routed to it")
    .argument('<integrationId>', 'integration id')
    .argument('<connectionId>', 'connection id, as in Nango')
    .requiredOption('--tenant-id <guid>', "the connection's Microsoft Entra tenant id")
    .option('--subscribe <resource:changeTypes>', 'a Graph subscription the connection wants, e.g. users:created,updated,deleted (repeatable)', collect)
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
    .argument('<resource:changeTypes>', 'e.g. users:created,updated,deleted or users/<id>/messages:created')
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
    .requiredOption('--resource <resource>', 'the Graph resource, e.g. users or users/<id>/messages')
    .requiredOption('--change-type <types>', 'comma-separated: created, updated, deleted')
    .option('--expires-in <duration>', "a lifetime shorter than the resource's maximum (the default), e.g. 90m, 24h, 2d")
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

  const events = program.command('events').description('watch delivered events (local stack only)');
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

  return program;
}

async function readProcessStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('reading the client secret from stdin (end with Enter, then Ctrl-D)\n');
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
