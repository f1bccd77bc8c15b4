import { randomUUID } from 'node:crypto';
import { IntegrationRegistry, type IntegrationRegistryOptions, type RegisteredIntegration } from '../../shared/routing/integration-registry';
import { deferred, settle, type Deferred } from '../support/fakes';

const REFRESH_SECONDS = 30;
const MIN_REFRESH_SECONDS = 5;

const integration = (integrationId: string, versions: Partial<RegisteredIntegration> = {}): RegisteredIntegration => ({
  integrationId,
  provider: 'microsoft-oauth2-cc',
  configVersion: 1,
  routesVersion: 1,
  ...versions,
});

/**
 * A registry over a table whose integrations the test sets; each load answers with what the table holds then,
 * or is held open (`hold`) or fails (`failNext`). The clock moves by hand.
 */
function harness(options: Partial<IntegrationRegistryOptions> = {}) {
  let now = 1_000_000;
  let table: RegisteredIntegration[] = [integration('contoso')];
  const held: Deferred<void>[] = [];
  const changes: { integrationId: string; config: boolean; routes: boolean }[] = [];
  const refreshErrors: unknown[] = [];
  let hold = false;
  let failNext: Error | undefined;
  let loads = 0;
  const registry = new IntegrationRegistry({
    load: async () => {
      loads += 1;
      if (hold) {
        const gate = deferred<void>();
        held.push(gate);
        await gate.promise;
      }
      const error = failNext;
      failNext = undefined;
      if (error !== undefined) throw error;
      return [...table];
    },
    refreshSeconds: REFRESH_SECONDS,
    minRefreshSeconds: MIN_REFRESH_SECONDS,
    onChange: (change) => changes.push(change),
    onRefreshError: (error) => refreshErrors.push(error),
    now: () => now,
    ...options,
  });
  return {
    registry,
    changes,
    refreshErrors,
    held,
    loads: () => loads,
    setTable: (integrations: RegisteredIntegration[]) => {
      table = integrations;
    },
    hold: (value: boolean) => {
      hold = value;
    },
    failNext: (error: Error) => {
      failNext = error;
    },
    advanceSeconds: (seconds: number) => {
      now += seconds * 1000;
    },
  };
}

describe('IntegrationRegistry', () => {
  it('waits for the first load, shared by every lookup made meanwhile', async () => {
    // Prepare
    const h = harness();
    h.hold(true);

    // Act
    const lookups = [h.registry.lookup('contoso'), h.registry.lookup('contoso'), h.registry.lookup('fabrikam')];
    await settle();
    const loadsWhileHeld = h.loads();
    for (const gate of h.held) gate.resolve();
    const found = await Promise.all(lookups);

    // Assess
    expect(loadsWhileHeld).toBe(1);
    expect(found).toEqual([integration('contoso'), integration('contoso'), undefined]);
    expect(h.loads()).toBe(1);
  });

  it('answers lookups from memory between refreshes', async () => {
    // Prepare
    const h = harness();
    await h.registry.lookup('contoso');

    // Act
    h.advanceSeconds(REFRESH_SECONDS - 1);
    for (let i = 0; i < 100; i += 1) await h.registry.lookup('contoso');

    // Assess
    expect(h.loads()).toBe(1);
  });

  it('reads once per minRefreshSeconds for unknown ids, whatever their number', async () => {
    // Prepare
    const h = harness();
    await h.registry.lookup('contoso');
    const made = Array.from({ length: 10_000 }, () => `made-up-${randomUUID()}`);

    // Act: a flood of made-up ids within the interval of the first load, then after it
    const withinInterval = await Promise.all(made.map((id) => h.registry.lookup(id)));
    const loadsWithinInterval = h.loads();
    h.advanceSeconds(MIN_REFRESH_SECONDS);
    const afterInterval = await Promise.all(made.map((id) => h.registry.lookup(id)));
    const again = await Promise.all(made.slice(0, 100).map((id) => h.registry.lookup(id)));

    // Assess
    expect(withinInterval.every((found) => found === undefined)).toBe(true);
    expect(loadsWithinInterval).toBe(1);
    expect(afterInterval.every((found) => found === undefined)).toBe(true);
    expect(again.every((found) => found === undefined)).toBe(true);
    expect(h.loads()).toBe(2);
  });

  it('finds an integration created since the last read once an unknown id may bring the refresh forward', async () => {
    // Prepare
    const h = harness();
    await h.registry.lookup('contoso');
    h.setTable([integration('contoso'), integration('fabrikam')]);

    // Act
    const tooSoon = await h.registry.lookup('fabrikam');
    h.advanceSeconds(MIN_REFRESH_SECONDS);
    const found = await h.registry.lookup('fabrikam');

    // Assess
    expect(tooSoon).toBeUndefined();
    expect(found).toEqual(integration('fabrikam'));
    expect(h.loads()).toBe(2);
  });

  it('refreshes in the background after refreshSeconds, answering from the set read before meanwhile', async () => {
    // Prepare
    const h = harness();
    await h.registry.lookup('contoso');
    h.setTable([integration('contoso', { routesVersion: 2 })]);
    h.hold(true);

    // Act
    h.advanceSeconds(REFRESH_SECONDS);
    const duringRefresh = await h.registry.lookup('contoso');
    const loadsStarted = h.loads();
    for (const gate of h.held) gate.resolve();
    await settle();
    const afterRefresh = await h.registry.lookup('contoso');

    // Assess
    expect(duringRefresh).toEqual(integration('contoso'));
    expect(loadsStarted).toBe(2);
    expect(afterRefresh).toEqual(integration('contoso', { routesVersion: 2 }));
    expect(h.loads()).toBe(2);
  });

  it('reports which integrations changed their configuration or routes, or were removed', async () => {
    // Prepare
    const h = harness();
    h.setTable([integration('config'), integration('routes'), integration('provider'), integration('removed'), integration('same')]);
    await h.registry.lookup('same');
    h.setTable([
      integration('config', { configVersion: 2 }),
      integration('routes', { routesVersion: 2 }),
      integration('provider', { provider: 'another-provider' }),
      integration('same'),
      integration('added'),
    ]);

    // Act
    h.advanceSeconds(REFRESH_SECONDS);
    await h.registry.lookup('same');
    await settle();

    // Assess
    expect([...h.changes].sort((a, b) => a.integrationId.localeCompare(b.integrationId))).toEqual([
      { integrationId: 'config', config: true, routes: false },
      { integrationId: 'provider', config: true, routes: false },
      { integrationId: 'removed', config: true, routes: true },
      { integrationId: 'routes', config: false, routes: true },
    ]);
  });

  it('reports no change on the first load', async () => {
    // Prepare
    const h = harness();

    // Act
    await h.registry.lookup('contoso');

    // Assess
    expect(h.changes).toEqual([]);
  });

  it('keeps the set read before when a background refresh fails, and says so', async () => {
    // Prepare
    const h = harness();
    await h.registry.lookup('contoso');
    const failure = new Error('DynamoDB is down');
    h.failNext(failure);

    // Act
    h.advanceSeconds(REFRESH_SECONDS);
    const duringFailure = await h.registry.lookup('contoso');
    await settle();
    const afterFailure = await h.registry.lookup('contoso');

    // Assess
    expect(duringFailure).toEqual(integration('contoso'));
    expect(afterFailure).toEqual(integration('contoso'));
    expect(h.refreshErrors).toEqual([failure]);
    expect(h.changes).toEqual([]);
  });

  it('throws when the first load fails, and loads again on the next lookup', async () => {
    // Prepare
    const h = harness();
    h.failNext(new Error('DynamoDB is down'));

    // Act
    const first = h.registry.lookup('contoso');
    await expect(first).rejects.toThrow('DynamoDB is down');
    const next = await h.registry.lookup('contoso');

    // Assess
    expect(next).toEqual(integration('contoso'));
    expect(h.loads()).toBe(2);
  });

  it('counts its reads', async () => {
    // Prepare
    const h = harness();

    // Act
    await h.registry.lookup('contoso');
    h.advanceSeconds(REFRESH_SECONDS);
    await h.registry.lookup('contoso');
    await settle();

    // Assess
    expect(h.registry.refreshes).toBe(2);
    expect(h.loads()).toBe(2);
  });
});
