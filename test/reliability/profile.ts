/**
 * Sizes of the reliability suite. `npm test` runs the short profile (CI stays well under ten minutes);
 * `npm run test:reliability` runs the full one (RELIABILITY_PROFILE=full).
 */
export interface ReliabilityProfile {
  name: 'short' | 'full';
  load: { requests: number; connections: number; tenants: number; maxBatch: number };
  faults: { requests: number; connections: number };
  fuzz: { runsPerProperty: number };
}

export const PROFILES: Readonly<Record<ReliabilityProfile['name'], ReliabilityProfile>> = {
  short: {
    name: 'short',
    load: { requests: 400, connections: 50, tenants: 50, maxBatch: 100 },
    faults: { requests: 400, connections: 50 },
    fuzz: { runsPerProperty: 200 },
  },
  full: {
    name: 'full',
    load: { requests: 2000, connections: 50, tenants: 50, maxBatch: 100 },
    faults: { requests: 2000, connections: 50 },
    fuzz: { runsPerProperty: 2000 },
  },
};

export function reliabilityProfile(env: NodeJS.ProcessEnv = process.env): ReliabilityProfile {
  const name = env['RELIABILITY_PROFILE']?.trim() || 'short';
  if (name !== 'short' && name !== 'full') throw new Error(`RELIABILITY_PROFILE must be short or full, got "${name}"`);
  return PROFILES[name];
}
