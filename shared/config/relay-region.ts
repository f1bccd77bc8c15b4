import { ENV } from './env-names';

/**
 * This deployment's region as its events and health answers name it: `RELAY_REGION` when set, else the region the
 * function runs in (`AWS_REGION`, which Lambda always sets). `undefined` when neither is set.
 */
export function relayRegionOf(env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const name of [ENV.relayRegion, 'AWS_REGION']) {
    const value = env[name]?.trim();
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}
