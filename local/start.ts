import { acquireLocalStackLock, dataDirFromEnv, LocalStackRunningError } from './descriptor';
import { JavaMissingError } from './dynamodb-local';
import { LocalRenewalSettingsError, localRenewalSettingsFromEnv } from './renewal-schedule';
import { startLocalStack } from './stack';
import { LOCAL_REGION_ENV, LocalRegionSettingsError, localRegionSettingsFromEnv } from './writer-lease';

/** `npm start`: the local stack in the foreground until Ctrl-C / SIGTERM. */
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

const portText = process.env['PORT'] ?? '3000';
const port = Number(portText);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`graph-relay: PORT must be a port number (0-65535), got "${portText}"`);
  process.exit(2);
}
const dataDir = dataDirFromEnv();
let renewal: ReturnType<typeof localRenewalSettingsFromEnv>;
let regionSettings: ReturnType<typeof localRegionSettingsFromEnv>;
try {
  renewal = localRenewalSettingsFromEnv(process.env);
  // GRAPH_RELAY_REGION, GRAPH_RELAY_WRITER_LEASE (+ its timings) and GRAPH_RELAY_DELIVERIES_TABLE: one region of two.
  regionSettings = localRegionSettingsFromEnv(process.env);
} catch (error) {
  if (!(error instanceof LocalRenewalSettingsError) && !(error instanceof LocalRegionSettingsError)) throw error;
  console.error(`graph-relay: ${error.message}`);
  process.exit(2);
}

// GRAPH_RELAY_CONNECTIONS_STREAM=false: connection changes wait for the interval (or `graph-relay --local reconcile`).
const streamText = process.env['GRAPH_RELAY_CONNECTIONS_STREAM']?.trim() || 'true';
if (streamText !== 'true' && streamText !== 'false') {
  console.error(`graph-relay: GRAPH_RELAY_CONNECTIONS_STREAM must be true or false, got "${streamText}"`);
  process.exit(2);
}
const connectionsStream = streamText === 'true';

// One stack per data directory, refused before anything starts: a second DynamoDB Local on the same files would
// corrupt them. Released at exit, however the process ends short of a kill; a killed stack's lock is taken over.
try {
  const lock = acquireLocalStackLock(dataDir);
  process.on('exit', () => lock.release());
} catch (error) {
  if (!(error instanceof LocalStackRunningError)) throw error;
  console.error(`graph-relay: ${error.message}`);
  process.exit(1);
}

try {
  console.error(`graph-relay: starting DynamoDB Local and the AWS emulator (data in ${dataDir})…`);
  // An already running DynamoDB (e.g. the benchmark's in-memory DynamoDB Local) instead of starting one.
  const dynamodbEndpoint = process.env['GRAPH_RELAY_DYNAMODB_ENDPOINT'] || undefined;
  const quiet = process.env['GRAPH_RELAY_QUIET'] === 'true';
  const stack = await startLocalStack({
    dataDir,
    port,
    // GRAPH_API_URL / GRAPH_LOGIN_URL (e.g. a local Graph fake) are read from this environment as they are.
    renewal,
    connectionsStream,
    region: regionSettings.region,
    ...(regionSettings.writerLease === undefined ? {} : { writerLease: regionSettings.writerLease }),
    ...(regionSettings.deliveriesTable === undefined ? {} : { names: { deliveriesTable: regionSettings.deliveriesTable } }),
    ...(dynamodbEndpoint === undefined ? {} : { dynamodbEndpoint }),
    ...(quiet ? {} : { log: (line: string) => console.error(line) }),
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.error(`graph-relay: ${signal} received, stopping…`);
    stack.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  console.error(`graph-relay: webhook URL for integration <id>: ${stack.descriptor.webhookBaseUrl}<id>; events: ${stack.descriptor.eventsFile}`);
  console.error(
    renewal.intervalSeconds > 0
      ? `graph-relay: renewing due subscriptions and reconciling declared ones every ${renewal.intervalSeconds} s (GRAPH_RELAY_RENEWAL_INTERVAL_SECONDS, 0 disables)`
      : 'graph-relay: scheduled renewal and reconcile disabled (GRAPH_RELAY_RENEWAL_INTERVAL_SECONDS=0)',
  );
  console.error(
    connectionsStream
      ? 'graph-relay: reconciling connection changes from the connections table stream (GRAPH_RELAY_CONNECTIONS_STREAM=false disables)'
      : 'graph-relay: connection changes wait for the scheduled reconcile (GRAPH_RELAY_CONNECTIONS_STREAM=false)',
  );
  console.error(
    `graph-relay: events over 256 KB carry detail.payloadRef to s3://${stack.descriptor.payloadBucket ?? ''} on ${stack.descriptor.awsEmulatorEndpoint} (path-style); objects are kept in ${dataDir}/s3`,
  );
  const lease = regionSettings.writerLease;
  if (lease !== undefined) {
    console.error(
      `graph-relay: region ${regionSettings.region}, writer lease on (heartbeat every ${lease.heartbeatSeconds} s, TTL ${lease.ttlSeconds} s, grace ${lease.graceSeconds} s; ${LOCAL_REGION_ENV.writerLease}=off for one region)`,
    );
  }
  console.log(`graph-relay listening on ${stack.url}`);
} catch (error) {
  if (error instanceof JavaMissingError) console.error(`graph-relay: ${error.message}`);
  else if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') console.error(`graph-relay: port ${port} is in use; set PORT to another port`);
  else console.error(`graph-relay: local stack failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
