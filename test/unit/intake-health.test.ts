import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { handleHealthWith } from '../../functions/intake/notifications';
import { serveHttpApi } from '../../local/http-adapter';
import { awsHealthPorts } from '../../shared/health/aws-health-ports';
import { DeepHealth, HEALTH_PROBE, type Delay, type HealthCheckName, type HealthPorts, type HealthReport } from '../../shared/health/deep-health';
import { isHealthRequest } from '../../shared/health/health-path';
import { IntegrationSecretCache } from '../../shared/secrets/integration-secret-cache';
import { deferred, settle } from '../support/fakes';

const REGION = 'eu-west-1';
const SECRET_NAME = 'graph-relay/test/integrations/contoso';
const CAUSE = `AccessDeniedException: not authorized on arn:aws:secretsmanager:eu-west-1:123456789012:secret:${SECRET_NAME}`;

/** Ports that answer at once, counting their calls; each may be overridden. */
function stubPorts(overrides: Partial<HealthPorts> = {}): HealthPorts & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    integrations: async (signal) => {
      calls.push('integrations');
      return overrides.integrations ? overrides.integrations(signal) : ['contoso', 'fabrikam'];
    },
    readSecret: async (integrationId, signal) => {
      calls.push(`secret:${integrationId}`);
      return overrides.readSecret?.(integrationId, signal);
    },
    probeBus: async (signal) => {
      calls.push('bus');
      return overrides.probeBus?.(signal);
    },
  };
}

/** Timeouts that elapse only when the test says so. */
function manualDelay(): { delay: Delay; elapse(): void; asked: number[] } {
  const pending = new Set<() => void>();
  const asked: number[] = [];
  return {
    asked,
    delay: (ms) => {
      asked.push(ms);
      let fire!: () => void;
      const elapsed = new Promise<void>((resolve) => (fire = resolve));
      pending.add(fire);
      return { elapsed, cancel: () => pending.delete(fire) };
    },
    elapse: () => {
      for (const fire of pending) fire();
      pending.clear();
    },
  };
}

function healthOf(ports: HealthPorts, options: { now?: () => number; delay?: Delay; cacheSeconds?: number } = {}) {
  const failures: { report: HealthReport; causes: Partial<Record<HealthCheckName, string>> }[] = [];
  const recoveries: HealthReport[] = [];
  const health = new DeepHealth({
    region: REGION,
    ports,
    cacheSeconds: options.cacheSeconds ?? 10,
    checkTimeoutMs: 2000,
    deadlineMs: 3000,
    onFailed: (report, causes) => failures.push({ report, causes }),
    onRecovered: (report) => recoveries.push(report),
    now: options.now ?? (() => Date.parse('2026-12-06T03:00:00.000Z')),
    ...(options.delay === undefined ? {} : { delay: options.delay }),
  });
  return { health, failures, recoveries };
}

const rejecting = (message = CAUSE) => async () => {
  throw new Error(message);
};

describe('DeepHealth', () => {
  it('answers ok with every check ok when the table, the first secret and the bus answer', async () => {
    // Prepare
    const ports = stubPorts();
    const { health, failures } = healthOf(ports);

    // Act
    const report = await health.answer();

    // Assess
    expect(report).toEqual({ status: 'ok', region: REGION, checks: { table: 'ok', secret: 'ok', bus: 'ok' }, checkedAt: '2026-12-06T03:00:00.000Z' });
    expect(ports.calls.sort()).toEqual(['bus', 'integrations', 'secret:contoso']);
    expect(failures).toEqual([]);
  });

  it('skips the secret check, and stays ok, when there is no integration', async () => {
    // Prepare
    const ports = stubPorts({ integrations: async () => [] });
    const { health } = healthOf(ports);

    // Act
    const report = await health.answer();

    // Assess
    expect(report.status).toBe('ok');
    expect(report.checks).toEqual({ table: 'ok', secret: 'skipped', bus: 'ok' });
    expect(ports.calls).not.toContain(expect.stringMatching(/^secret:/));
  });

  it.each<[HealthCheckName, Partial<HealthPorts>, HealthReport['checks']]>([
    ['table', { integrations: rejecting() }, { table: 'failed', secret: 'skipped', bus: 'ok' }],
    ['secret', { readSecret: rejecting() }, { table: 'ok', secret: 'failed', bus: 'ok' }],
    ['bus', { probeBus: rejecting() }, { table: 'ok', secret: 'ok', bus: 'failed' }],
  ])('fails when the %s check fails, naming only that check, and logs the cause once', async (name, overrides, checks) => {
    // Prepare
    const { health, failures } = healthOf(stubPorts(overrides));

    // Act
    const report = await health.answer();

    // Assess: the answer names the check; the cause (with its ARN and secret name) is for the log only.
    expect(report).toEqual({ status: 'failed', region: REGION, checks, checkedAt: expect.any(String) });
    expect(JSON.stringify(report)).not.toMatch(/arn:|AccessDenied|integrations\//);
    expect(failures).toEqual([{ report, causes: { [name]: `Error: ${CAUSE}` } }]);
  });

  it('reuses an answer for the cache period, failed or not, then checks again', async () => {
    // Prepare
    let now = Date.parse('2026-12-06T03:00:00.000Z');
    let busFails = true;
    const ports = stubPorts({ probeBus: async () => (busFails ? rejecting()() : undefined) });
    const { health, failures, recoveries } = healthOf(ports, { now: () => now });

    // Act
    const first = await health.answer();
    busFails = false;
    now += 9_999;
    const cached = await health.answer();
    now += 1;
    const fresh = await health.answer();

    // Assess
    expect(cached).toBe(first);
    expect(first.status).toBe('failed');
    expect(fresh.status).toBe('ok');
    expect(health.runs).toBe(2);
    expect(ports.calls.filter((call) => call === 'bus')).toHaveLength(2);
    expect(failures).toHaveLength(1);
    expect(recoveries).toEqual([fresh]);
  });

  it('costs one run of the checks for a flood of concurrent requests', async () => {
    // Prepare
    const table = deferred<readonly string[]>();
    const ports = stubPorts({ integrations: () => table.promise });
    const { health } = healthOf(ports);

    // Act
    const answers = Array.from({ length: 50 }, () => health.answer());
    await settle();
    table.resolve(['contoso']);
    const reports = await Promise.all(answers);
    const later = await health.answer();

    // Assess
    expect(new Set(reports).size).toBe(1);
    expect(later).toBe(reports[0]);
    expect(health.runs).toBe(1);
    expect(ports.calls.sort()).toEqual(['bus', 'integrations', 'secret:contoso']);
  });

  it('fails a check that does not answer in time, aborting its signal, and answers without waiting for it', async () => {
    // Prepare
    const timers = manualDelay();
    let busSignal: AbortSignal | undefined;
    const ports = stubPorts({
      probeBus: (signal) => {
        busSignal = signal;
        return new Promise<void>(() => undefined);
      },
    });
    const { health, failures } = healthOf(ports, { delay: timers.delay });

    // Act
    const answer = health.answer();
    await settle();
    timers.elapse();
    const report = await answer;

    // Assess
    expect(report.checks).toEqual({ table: 'ok', secret: 'ok', bus: 'failed' });
    expect(busSignal?.aborted).toBe(true);
    expect(failures[0]?.causes).toEqual({ bus: 'CheckTimeoutError: no answer within 2000 ms' });
    expect(timers.asked).toContain(2000);
  });

  it('gives the secret check only what is left of the deadline after the table', async () => {
    // Prepare
    const timers = manualDelay();
    let now = Date.parse('2026-12-06T03:00:00.000Z');
    const ports = stubPorts({
      integrations: async () => {
        now += 2_500;
        return ['contoso'];
      },
    });
    const { health } = healthOf(ports, { now: () => now, delay: timers.delay });

    // Act
    const report = await health.answer();

    // Assess: 3 s in all, 2.5 s of it taken by the table.
    expect(report.status).toBe('ok');
    expect(timers.asked.sort()).toEqual([2000, 2000, 500]);
  });

  it('fails the secret check without calling it when the table used the whole deadline', async () => {
    // Prepare
    let now = Date.parse('2026-12-06T03:00:00.000Z');
    const ports = stubPorts({
      integrations: async () => {
        now += 3_000;
        return ['contoso'];
      },
    });
    const { health } = healthOf(ports, { now: () => now });

    // Act
    const report = await health.answer();

    // Assess
    expect(report.checks).toEqual({ table: 'ok', secret: 'failed', bus: 'ok' });
    expect(ports.calls).not.toContain('secret:contoso');
  });
});

describe('handleHealthWith', () => {
  function event(method: string): APIGatewayProxyEventV2 {
    return { rawPath: '/health', routeKey: 'GET /health', requestContext: { http: { method } } } as unknown as APIGatewayProxyEventV2;
  }

  it('answers 200 with the report as JSON, never cached by a proxy', async () => {
    // Prepare
    const { health } = healthOf(stubPorts());

    // Act
    const answer = await handleHealthWith(event('GET'), () => ({ health }));

    // Assess
    expect(answer.statusCode).toBe(200);
    expect(answer.headers).toEqual(expect.objectContaining({ 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }));
    expect(JSON.parse(answer.body ?? '')).toEqual({ status: 'ok', region: REGION, checks: { table: 'ok', secret: 'ok', bus: 'ok' }, checkedAt: '2026-12-06T03:00:00.000Z' });
  });

  it('answers 503 naming the failed check, and HEAD the same status without a body', async () => {
    // Prepare
    const { health } = healthOf(stubPorts({ probeBus: rejecting() }));

    // Act
    const get = await handleHealthWith(event('GET'), () => ({ health }));
    const head = await handleHealthWith(event('HEAD'), () => ({ health }));

    // Assess
    expect(get.statusCode).toBe(503);
    expect(JSON.parse(get.body ?? '')).toEqual(expect.objectContaining({ status: 'failed', checks: { table: 'ok', secret: 'ok', bus: 'failed' } }));
    expect(head.statusCode).toBe(503);
    expect(head.body).toBeUndefined();
  });

  it('refuses other methods with 405 before building the runtime', async () => {
    // Prepare
    const runtimeOf = jest.fn(() => ({ health: healthOf(stubPorts()).health }));

    // Act
    const answer = await handleHealthWith(event('POST'), runtimeOf);

    // Assess
    expect(answer.statusCode).toBe(405);
    expect(answer.headers).toEqual(expect.objectContaining({ allow: 'GET, HEAD' }));
    expect(runtimeOf).not.toHaveBeenCalled();
  });

  it('tells the health route from the webhook routes', () => {
    // Act and Assess
    expect(isHealthRequest({ routeKey: 'GET /health', rawPath: '/health' })).toBe(true);
    expect(isHealthRequest({ rawPath: '/health' })).toBe(true);
    expect(isHealthRequest({ routeKey: 'ANY /webhook/{integrationId}', rawPath: '/webhook/health' })).toBe(false);
    expect(isHealthRequest({ rawPath: '/health/x' })).toBe(false);
  });
});

describe('awsHealthPorts', () => {
  it('probes the bus with one entry of the health source and detail-type, and fails on a failed entry', async () => {
    // Prepare
    const sent: PutEventsCommand[] = [];
    let failed = 0;
    const events = {
      send: async (command: PutEventsCommand) => {
        sent.push(command);
        return failed === 0 ? { FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] } : { FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure' }] };
      },
    } as unknown as EventBridgeClient;
    const ports = awsHealthPorts({
      loadRegistry: async () => [],
      secrets: { fresh: async () => ['s'] },
      events,
      eventBusName: 'graph-relay-test',
      region: REGION,
      now: () => new Date('2026-12-06T03:00:00.000Z'),
    });

    // Act
    await ports.probeBus(new AbortController().signal);
    failed = 1;
    const refused = ports.probeBus(new AbortController().signal);

    // Assess
    await expect(refused).rejects.toThrow('the bus refused the probe: InternalFailure');
    expect(sent[0]?.input.Entries).toEqual([
      { EventBusName: 'graph-relay-test', Source: HEALTH_PROBE.source, DetailType: HEALTH_PROBE.detailType, Detail: JSON.stringify({ region: REGION, probedAt: '2026-12-06T03:00:00.000Z' }) },
    ]);
    expect(HEALTH_PROBE).toEqual({ source: 'graph-relay.health', detailType: 'Graph Relay Health Probe' });
  });

  it('reads the first secret fresh through the secret cache, without using up its re-read allowance', async () => {
    // Prepare
    const reads: string[] = [];
    let value: string | Error = JSON.stringify({ webhookSecret: 'a'.repeat(32) });
    const client = {
      send: async (command: GetSecretValueCommand) => {
        reads.push(command.input.SecretId ?? '');
        if (value instanceof Error) throw value;
        return { SecretString: value };
      },
    } as unknown as SecretsManagerClient;
    let now = 1_000_000;
    const secrets = new IntegrationSecretCache({ client, prefix: 'graph-relay/test/integrations/', maxAgeSeconds: 300, refreshIntervalSeconds: 10, staleIfErrorSeconds: 3600, now: () => now });
    const ports = awsHealthPorts({ loadRegistry: async () => [{ integrationId: 'contoso' }], secrets, events: { send: async () => ({}) } as unknown as EventBridgeClient, eventBusName: 'b', region: REGION });
    await secrets.accepted('contoso');

    // Act
    now += 1;
    await ports.readSecret('contoso', new AbortController().signal);
    value = Object.assign(new Error('down'), { name: 'InternalServiceError' });
    const failed = ports.readSecret('contoso', new AbortController().signal);

    // Assess: read each time (never the cached or a stale copy), and a mismatch may still force its own read.
    await expect(failed).rejects.toThrow(`cannot read secret ${SECRET_NAME}`);
    expect(reads).toEqual([SECRET_NAME, SECRET_NAME, SECRET_NAME]);
    value = JSON.stringify({ webhookSecret: 'b'.repeat(32) });
    now += 1;
    expect(await secrets.acceptedSince('contoso', now)).toEqual(['b'.repeat(32)]);
  });

  it('fails the secret check when the first integration has no secret', async () => {
    // Prepare
    const ports = awsHealthPorts({ loadRegistry: async () => [], secrets: { fresh: async () => undefined }, events: { send: async () => ({}) } as unknown as EventBridgeClient, eventBusName: 'b', region: REGION });

    // Act
    const read = ports.readSecret('contoso', new AbortController().signal);

    // Assess
    await expect(read).rejects.toThrow('integration contoso has no secret');
  });
});

describe('serveHttpApi: /health', () => {
  it('hands GET /health to the handler as the GET /health route', async () => {
    // Prepare
    const seen: APIGatewayProxyEventV2[] = [];
    const port = await freePort();
    const server = await serveHttpApi(
      async (event) => {
        seen.push(event);
        return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"status":"ok"}' };
      },
      { port, host: '127.0.0.1' },
    );

    // Act
    let status: number;
    let body: string;
    try {
      const response = await fetch(`http://127.0.0.1:${port}/health`);
      status = response.status;
      body = await response.text();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }

    // Assess
    expect(status).toBe(200);
    expect(body).toBe('{"status":"ok"}');
    expect(seen.map((event) => [event.routeKey, event.rawPath, event.requestContext.http.method, event.pathParameters])).toEqual([['GET /health', '/health', 'GET', undefined]]);
  });
});

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('handleHealthWith: the health code failing', () => {
  it('answers 503 without a cause when the checks themselves cannot run', async () => {
    // Prepare
    const health = { answer: async () => Promise.reject(new Error(`boom ${CAUSE}`)) } as unknown as DeepHealth;
    const quiet = jest.spyOn(console, 'error').mockImplementation(() => undefined);

    // Act
    const answer = await handleHealthWith({ rawPath: '/health', requestContext: { http: { method: 'GET' } } } as unknown as APIGatewayProxyEventV2, () => ({ health }));

    // Assess
    quiet.mockRestore();
    expect(answer.statusCode).toBe(503);
    expect(answer.body).toBe('{"status":"failed"}');
  });
});
