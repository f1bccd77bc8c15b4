/**
 * What a failed reconcile, Graph call or lifecycle action writes to its log, through a real Powertools logger whose
 * output is captured: Graph's own message reaches the line (the logger drops a field named `message`).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { GraphClient } from '../../shared/graph/graph-client';
import { TokenClient } from '../../shared/graph/token-client';
import { handleLifecycleEvent } from '../../shared/subscriptions/lifecycle';
import { reconcile } from '../../shared/subscriptions/reconcile';
import { droppedLogKeys } from '../setup/log-fields';
import * as lifecycleWorld from '../support/lifecycle-world';
import { connection, graphError, world } from '../support/reconcile-world';

const GRAPH_MESSAGE = 'Operation: Create; Exception: [Status Code: Forbidden; Reason: Insufficient privileges to complete the operation.]';

/** Every JSON line the logger writes, whichever stream it uses. */
function captureOutput(): { lines: () => Record<string, unknown>[]; restore: () => void } {
  const written: string[] = [];
  const capture = (chunk: unknown): boolean => {
    written.push(String(chunk));
    return true;
  };
  const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(capture);
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(capture);
  return {
    lines: () =>
      written
        .join('')
        .split('\n')
        .filter((line) => line.trim().length > 0)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    restore: () => {
      stdout.mockRestore();
      stderr.mockRestore();
    },
  };
}

function debugLogger(serviceName: string): Logger {
  const logger = new Logger({ serviceName });
  logger.setLogLevel('DEBUG');
  return logger;
}

describe('failure logging', () => {
  it('puts Graph\'s message on the `reconcile create failed` line', async () => {
    // Prepare
    const w = world({ connections: [connection({ subscriptions: ['users:updated'] })] });
    w.graph.answers.create.push(graphError('POST', 403, GRAPH_MESSAGE));
    const ports = { ...w.ports, logger: debugLogger('graph-relay-reconcile') };
    const output = captureOutput();
    // Act
    try {
      await reconcile(ports, { dryRun: false, deadline: w.deadline });
    } finally {
      output.restore();
    }
    // Assess
    const line = output.lines().find((l) => l['message'] === 'reconcile create failed');
    expect(line).toMatchObject({ level: 'WARN', reason: 'needs-consent', status: 403, code: 'ExtensionError', requestId: 'req-1', error: expect.stringContaining(GRAPH_MESSAGE) });
    expect(droppedLogKeys()).toEqual([]);
  });

  it('puts Graph\'s message on the `Graph request failed` line', async () => {
    // Prepare
    const logger = debugLogger('graph-relay-reconcile');
    const client = new GraphClient({
      config: { apiUrl: 'https://graph.microsoft.com' },
      tokens: { getToken: async () => 'token', invalidate: () => undefined },
      fetch: async () => new Response(JSON.stringify({ error: { code: 'Authorization_RequestDenied', message: 'Insufficient privileges to complete the operation.' } }), { status: 403, headers: { 'content-type': 'application/json' } }),
      logger,
    });
    const output = captureOutput();
    // Act
    try {
      await client.request({ tenantId: '84bd8158-6d4d-4958-8b9f-9d6445542f95', method: 'GET', path: '/subscriptions' }).catch(() => undefined);
    } finally {
      output.restore();
    }
    // Assess
    const line = output.lines().find((l) => l['message'] === 'Graph request failed');
    expect(line).toMatchObject({ status: 403, code: 'Authorization_RequestDenied', error: expect.stringContaining('Insufficient privileges to complete the operation.') });
    expect(droppedLogKeys()).toEqual([]);
  });

  it('names the login URL and its variable on the `token request failed` line of a network failure', async () => {
    // Prepare: nothing listens at the login URL
    const loginUrl = 'http://127.0.0.1:9';
    const tokens = new TokenClient({
      credentials: { clientId: '3f6a1c2e-0d4b-4a7e-9b1a-5c2d7e8f9a01', clientSecret: 'test-client-secret-value~0123456789' },
      config: { loginUrl, scope: 'https://graph.microsoft.com/.default' },
      fetch: async () => {
        throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
      },
      retry: { maxAttempts: 1 },
      logger: debugLogger('graph-relay-reconcile'),
    });
    const output = captureOutput();
    // Act
    try {
      await tokens.getToken('84bd8158-6d4d-4958-8b9f-9d6445542f95').catch(() => undefined);
    } finally {
      output.restore();
    }
    // Assess
    const line = output.lines().find((l) => l['message'] === 'token request failed');
    expect(line).toMatchObject({ kind: 'unavailable', detail: expect.stringContaining(`network error (ECONNREFUSED) reaching ${loginUrl}; check the network, or GRAPH_LOGIN_URL`) });
    expect(droppedLogKeys()).toEqual([]);
  });

  it('puts Graph\'s message on the `lifecycle action failed` line', async () => {
    // Prepare
    const w = lifecycleWorld.world({ reauthorize: lifecycleWorld.graphError('POST', 403, 'ExtensionError', GRAPH_MESSAGE) });
    const ports = { ...w.ports, logger: debugLogger('graph-relay-lifecycle') };
    const output = captureOutput();
    // Act
    try {
      await handleLifecycleEvent(ports, lifecycleWorld.busEvent('reauthorizationRequired'));
    } finally {
      output.restore();
    }
    // Assess
    const line = output.lines().find((l) => l['message'] === 'lifecycle action failed');
    expect(line).toMatchObject({ level: 'WARN', reason: 'needs-consent', status: 403, action: 'needs-consent', error: expect.stringContaining(GRAPH_MESSAGE) });
    expect(droppedLogKeys()).toEqual([]);
  });

  it('has the test setup record a field the logger drops, even below its log level, so the test fails', () => {
    // Prepare
    const logger = new Logger({ serviceName: 'graph-relay-test' });
    logger.setLogLevel('SILENT');
    // Act
    logger.warn('reconcile create failed', { reason: 'graph-error', message: 'lost' });
    const persistent: Record<string, string> = { level: 'lost too' };
    logger.appendKeys(persistent);
    // Assess: taken here, so this test itself passes; any other test with such a line fails after it.
    expect(droppedLogKeys()).toEqual(['message', 'level']);
  });
});
