/**
 * Sizes of the reliability suite. `npm test` runs the short profile (CI stays well under ten minutes);
 * `npm run test:reliability` runs the full one (RELIABILITY_PROFILE=full).
 */
export interface ReliabilityProfile {
  name: 'short' | 'full';
  /** Load phase: POSTs (each body once, retries aside), concurrent connections, tenants over `integrations`, items per POST. */
  load: { requests: number; connections: number; tenants: number; maxBatch: number; integrations: number };
  /**
   * Faults phase: at least `requests` POSTs, and fresh ones for as long as the fault timeline runs; each fault lasts
   * `faultSeconds`, with `quietSeconds` of no fault before, between and after them.
   */
  faults: { requests: number; connections: number; tenants: number; maxBatch: number; integrations: number; faultSeconds: number; quietSeconds: number };
  /**
   * Hostile input: fast-check runs per in-process property, fuzzed bodies sent over HTTP to the running stack (and a
   * quarter as many fuzzed validation tokens).
   */
  fuzz: { runsPerProperty: number; httpSamples: number };
  /**
   * Hostile input's cost: requests per batch of 1 MB hostile bodies (each batch one kind of body), and small POSTs
   * to made-up integration ids whose Secrets Manager and DynamoDB reads are counted.
   */
  hostileCost: { requestsPerBatch: number; madeUpIds: number };
  /**
   * The failover drill: webhook bodies per second (up to `maxBatch` notifications each) over `concurrency`
   * connections; seconds of load before the kill and after each takeover; subscriptions created at the Graph fake,
   * `duePerTick` of them made due every second.
   */
  failover: { tenants: number; maxBatch: number; perSecond: number; concurrency: number; beforeSeconds: number; afterSeconds: number; subscriptions: number; duePerTick: number };
}

export const PROFILES: Readonly<Record<ReliabilityProfile['name'], ReliabilityProfile>> = {
  short: {
    name: 'short',
    load: { requests: 150, connections: 50, tenants: 50, maxBatch: 100, integrations: 3 },
    faults: { requests: 150, connections: 50, tenants: 50, maxBatch: 100, integrations: 3, faultSeconds: 3, quietSeconds: 2 },
    fuzz: { runsPerProperty: 200, httpSamples: 300 },
    hostileCost: { requestsPerBatch: 20, madeUpIds: 200 },
    failover: { tenants: 40, maxBatch: 20, perSecond: 20, concurrency: 8, beforeSeconds: 5, afterSeconds: 5, subscriptions: 120, duePerTick: 3 },
  },
  full: {
    name: 'full',
    load: { requests: 2000, connections: 50, tenants: 50, maxBatch: 100, integrations: 3 },
    faults: { requests: 2000, connections: 50, tenants: 50, maxBatch: 100, integrations: 3, faultSeconds: 5, quietSeconds: 3 },
    fuzz: { runsPerProperty: 2000, httpSamples: 2000 },
    hostileCost: { requestsPerBatch: 100, madeUpIds: 2000 },
    failover: { tenants: 200, maxBatch: 50, perSecond: 50, concurrency: 20, beforeSeconds: 20, afterSeconds: 20, subscriptions: 600, duePerTick: 5 },
  },
};

export function reliabilityProfile(env: NodeJS.ProcessEnv = process.env): ReliabilityProfile {
  const name = env['RELIABILITY_PROFILE']?.trim() || 'short';
  if (name !== 'short' && name !== 'full') throw new Error(`RELIABILITY_PROFILE must be short or full, got "${name}"`);
  return PROFILES[name];
}
