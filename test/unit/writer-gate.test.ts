/**
 * The writer gate and the fence (shared/leadership/writer-gate.ts): single-region reads nothing; with the lease on, a
 * Graph request is sent only while this region holds the lease for longer than the request may take, through the
 * real Graph client.
 */
import { GraphClient } from '../../shared/graph/graph-client';
import { fenceBudgetMs, fencedFetch, LeaseWriterGate, singleRegionGate, WriterLeaseLostError, WRITER_VIEW_MAX_AGE_MS } from '../../shared/leadership/writer-gate';
import { WriterLease } from '../../shared/leadership/writer-lease';
import { MemoryLeaseStore } from '../support/writer-lease-fakes';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const SECOND = 1000;
const API_URL = 'https://graph.example.test';

function world() {
  let now = T0;
  const store = new MemoryLeaseStore();
  const reads = jest.spyOn(store, 'read');
  const lease = new WriterLease(store, { ttlSeconds: 180, graceSeconds: 60 });
  const gate = new LeaseWriterGate(lease, 'eu-west-1', () => now);
  const sent: string[] = [];
  const fetch = fencedFetch(gate, {
    apiUrl: API_URL,
    budgetMs: 30 * SECOND,
    now: () => now,
    fetch: async (url) => {
      sent.push(url);
      return new Response(JSON.stringify({ value: [] }), { status: 200, headers: { 'content-type': 'application/json' } });
    },
  });
  const graph = new GraphClient({
    config: { apiUrl: API_URL },
    tokens: { getToken: async () => 'token', invalidate: () => undefined } as unknown as ConstructorParameters<typeof GraphClient>[0]['tokens'],
    fetch,
    clock: { now: () => now, sleep: async () => undefined },
  });
  return { store, reads, lease, gate, fetch, graph, sent, at: (ms: number) => void (now = ms) };
}

describe('writer gate', () => {
  it('single-region: always the writer, the fence never refuses, nothing is read', async () => {
    const gate = singleRegionGate('eu-west-1');
    await expect(gate.isWriter()).resolves.toMatchObject({ writer: true, region: 'eu-west-1' });
    await expect(gate.fence(Number.MAX_SAFE_INTEGER)).resolves.toMatchObject({ writer: true });
  });

  it('is the writer while this region holds an unexpired lease, not once it expired or another holds it', async () => {
    // Prepare
    const w = world();
    await w.lease.heartbeat('eu-west-1', T0);

    // Act / Assess
    await expect(w.gate.isWriter()).resolves.toMatchObject({ writer: true, holder: 'eu-west-1', epoch: 1, expiresAtMs: T0 + 180 * SECOND });
    w.at(T0 + 180 * SECOND);
    await expect(w.gate.isWriter()).resolves.toMatchObject({ writer: false, holder: 'eu-west-1' });
    await w.lease.heartbeat('us-east-1', T0 + 241 * SECOND);
    await expect(w.gate.isWriter()).resolves.toMatchObject({ writer: false, holder: 'us-east-1' });
  });

  it('names when the holder took the lease (acquiredAtMs), unchanged by its renewals; single-region names none', async () => {
    // Prepare
    const w = world();
    await w.lease.heartbeat('us-east-1', T0);
    await w.lease.heartbeat('eu-west-1', T0 + 241 * SECOND);
    await w.lease.heartbeat('eu-west-1', T0 + 300 * SECOND);
    w.at(T0 + 301 * SECOND);

    // Act
    const view = await w.gate.isWriter();
    const single = await singleRegionGate('eu-west-1').isWriter();

    // Assess
    expect(view).toMatchObject({ writer: true, holder: 'eu-west-1', epoch: 2, acquiredAtMs: T0 + 241 * SECOND, expiresAtMs: T0 + 480 * SECOND });
    expect(single.acquiredAtMs).toBeUndefined();
  });

  it('sends Graph requests under a fresh view without reading the lease again, and re-reads it when older than 10 s', async () => {
    // Prepare
    const w = world();
    await w.lease.heartbeat('eu-west-1', T0);
    w.reads.mockClear();

    // Act
    await w.graph.request({ method: 'GET', path: '/subscriptions', tenantId: 't-1' });
    await w.graph.request({ method: 'GET', path: '/subscriptions', tenantId: 't-1' });
    const readsWhileFresh = w.reads.mock.calls.length;
    w.at(T0 + WRITER_VIEW_MAX_AGE_MS + 1);
    await w.graph.request({ method: 'GET', path: '/subscriptions', tenantId: 't-1' });

    // Assess
    expect(w.sent).toHaveLength(3);
    expect(readsWhileFresh).toBe(1);
    expect(w.reads).toHaveBeenCalledTimes(2);
  });

  it('sends nothing once the lease would end before the request could: WriterLeaseLostError, not retried', async () => {
    // Prepare: the lease (held, not renewed) ends at T0 + 180 s; a request may take 30 s
    const w = world();
    await w.lease.heartbeat('eu-west-1', T0);
    await w.graph.request({ method: 'GET', path: '/subscriptions', tenantId: 't-1' });

    // Act
    w.at(T0 + 150 * SECOND);
    const late = w.graph.request({ method: 'PATCH', path: '/subscriptions/s-1', tenantId: 't-1', body: {} });

    // Assess
    await expect(late).rejects.toBeInstanceOf(WriterLeaseLostError);
    expect(w.sent).toHaveLength(1);
    expect(w.graph.stats().requests).toEqual({ 'GET 200': 1 });
  });

  it('goes on after the heartbeat renewed a lease that the cached view had near its end', async () => {
    // Prepare
    const w = world();
    await w.lease.heartbeat('eu-west-1', T0);
    await w.graph.request({ method: 'GET', path: '/subscriptions', tenantId: 't-1' });
    w.at(T0 + 150 * SECOND + 5 * SECOND);
    await w.lease.heartbeat('eu-west-1', T0 + 150 * SECOND);

    // Act
    await w.graph.request({ method: 'GET', path: '/subscriptions', tenantId: 't-1' });

    // Assess
    expect(w.sent).toHaveLength(2);
  });

  it('refuses every Graph request once another region holds the lease, and lets token requests through', async () => {
    // Prepare
    const w = world();
    await w.lease.heartbeat('us-east-1', T0);

    // Act
    const refused = w.fetch(`${API_URL}/v1.0/subscriptions`, { method: 'POST' });
    await w.fetch('https://login.example.test/t-1/oauth2/v2.0/token', { method: 'POST' });
    // A local fake serving Graph and the login endpoint at one origin: its token endpoint is not Graph.
    await w.fetch(`${API_URL}/t-1/oauth2/v2.0/token`, { method: 'POST' });

    // Assess
    await expect(refused).rejects.toThrow(/eu-west-1 does not hold the Graph writer lease \(us-east-1 does\)/);
    expect(w.sent).toEqual(['https://login.example.test/t-1/oauth2/v2.0/token', `${API_URL}/t-1/oauth2/v2.0/token`]);
  });

  it('gives a request at most the longest Graph call, or a third of a short TTL', () => {
    expect(fenceBudgetMs(180)).toBe(30_000);
    expect(fenceBudgetMs(6)).toBe(2_000);
  });
});
