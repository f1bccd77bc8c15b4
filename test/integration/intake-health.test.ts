import { INTAKE_DEFAULTS } from '../../shared/config/intake-config';
import { HEALTH_PROBE } from '../../shared/health/deep-health';
import { fakeDateOnly } from '../support/fake-date';
import { startTestStack, type TestStack } from '../support/test-stack';

let t: TestStack;

async function health(method: 'GET' | 'HEAD' = 'GET'): Promise<{ status: number; text: string; headers: Headers }> {
  const response = await fetch(`${t.stack.url}/health`, { method });
  return { status: response.status, text: await response.text(), headers: response.headers };
}

/** Moves the product's clock past the health answer's cache period, so the next request runs the checks again. */
function cachePeriodPasses(): void {
  jest.setSystemTime(Date.now() + INTAKE_DEFAULTS.healthCacheSeconds * 1000);
}

const probesOnBus = () => t.stack.emulator.events(t.stack.descriptor.eventBusName).filter((event) => event.source === HEALTH_PROBE.source);

beforeAll(async () => {
  fakeDateOnly();
  t = await startTestStack();
  await t.seedIntegration({ integrationId: 'health-contoso', connections: [{ connectionId: 'c-1', tenantId: '84bd8158-6d4d-4958-8b9f-9d6445542f95' }] });
});

afterAll(async () => {
  await t?.stop();
  jest.useRealTimers();
});

describe('GET /health on the local stack', () => {
  it('answers 200 with every check ok once the table, the secret and the bus answer, and puts the probe on the bus', async () => {
    // Prepare
    t.stack.emulator.resetStats();
    t.proxy.resetStats();

    // Act
    const answer = await health();

    // Assess
    expect(answer.status).toBe(200);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(JSON.parse(answer.text)).toEqual({ status: 'ok', region: t.stack.descriptor.region, checks: { table: 'ok', secret: 'ok', bus: 'ok' }, checkedAt: expect.any(String) });
    expect(t.stack.emulator.stats()).toEqual(expect.objectContaining({ GetSecretValue: 1, PutEvents: 1 }));
    expect(t.proxy.stats()).toEqual(expect.objectContaining({ Query: 1 }));
    const probes = probesOnBus();
    expect(probes).toHaveLength(1);
    expect(probes[0]).toEqual(expect.objectContaining({ source: 'graph-relay.health', 'detail-type': 'Graph Relay Health Probe', detail: expect.objectContaining({ region: t.stack.descriptor.region }) }));
    // Nothing the relay's consumers filter on (its source) came from the probe.
    const relayEvents = t.stack.emulator.events(t.stack.descriptor.eventBusName).filter((event) => event.source === t.stack.descriptor.eventSource);
    expect(relayEvents).toEqual([]);
  });

  it('answers a flood of requests within the cache period from the one answer, with no AWS call', async () => {
    // Prepare
    t.stack.emulator.resetStats();
    t.proxy.resetStats();

    // Act
    const answers = await Promise.all(Array.from({ length: 30 }, () => health()));

    // Assess
    expect(answers.map((answer) => answer.status)).toEqual(Array(30).fill(200));
    expect(new Set(answers.map((answer) => answer.text)).size).toBe(1);
    expect(t.stack.emulator.stats()).toEqual({});
    expect(t.proxy.stats()).toEqual({});
  });

  it('answers 503 naming only the bus when the bus refuses the probe, then 200 again once it accepts', async () => {
    // Prepare
    t.stack.emulator.faults.inject({ operation: 'PutEvents', mode: 'partial', failEntries: 1, times: 1 });
    cachePeriodPasses();

    // Act
    const failed = await health();
    const head = await health('HEAD');
    cachePeriodPasses();
    const recovered = await health();

    // Assess: the answer names the check, never the cause.
    expect(failed.status).toBe(503);
    expect(JSON.parse(failed.text)).toEqual({ status: 'failed', region: t.stack.descriptor.region, checks: { table: 'ok', secret: 'ok', bus: 'failed' }, checkedAt: expect.any(String) });
    expect(failed.text).not.toMatch(/InternalFailure|arn:|health-contoso/);
    expect(head.status).toBe(503);
    expect(head.text).toBe('');
    expect(recovered.status).toBe(200);
  });

  it('answers 503 naming the bus when PutEvents itself fails', async () => {
    // Prepare
    t.stack.emulator.faults.inject({ operation: 'PutEvents', mode: 'error', errorCode: 'ServiceUnavailable' });
    cachePeriodPasses();

    // Act
    let answer: Awaited<ReturnType<typeof health>>;
    try {
      answer = await health();
    } finally {
      t.stack.emulator.faults.clear('PutEvents');
    }

    // Assess
    expect(answer.status).toBe(503);
    expect(JSON.parse(answer.text)).toEqual(expect.objectContaining({ status: 'failed', checks: { table: 'ok', secret: 'ok', bus: 'failed' } }));
  });
});
