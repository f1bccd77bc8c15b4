import { ENV } from '../shared/config/env-names';
import { INTAKE_DEFAULTS } from '../shared/config/intake-config';
import { RECONCILE_DEFAULTS } from '../shared/config/reconcile-config';
import { RENEWAL_DEFAULTS } from '../shared/config/renewal-config';
import { RESYNC_DEFAULTS } from '../shared/config/resync-config';

/**
 * When a change of an integration (its item, or its secret: webhook secrets, client id, credentials, encryption
 * certificates) reaches the functions that read it, from their cache lifetimes: printed by every command that makes
 * one, so an operator knows how long the old value is still in use.
 */
export interface TakesEffect {
  /** Running intakes see the integration's new configVersion within one registry refresh, then re-read its secret. */
  intakeWithinSeconds: number;
  intakeSetting: string;
  /** Renewal, lifecycle handling, reconcile and resync read the secret through a cache of this age. */
  graphCallsWithinSeconds: number;
  graphCallsSetting: string;
  message: string;
}

const intakeWithinSeconds = INTAKE_DEFAULTS.registryRefreshSeconds;
// Lifecycle handling runs with the renewal's configuration.
const graphCallsWithinSeconds = Math.max(RENEWAL_DEFAULTS.secretMaxAgeSeconds, RECONCILE_DEFAULTS.secretMaxAgeSeconds, RESYNC_DEFAULTS.secretMaxAgeSeconds);

export const TAKES_EFFECT: TakesEffect = {
  intakeWithinSeconds,
  intakeSetting: ENV.registryRefreshSeconds,
  graphCallsWithinSeconds,
  graphCallsSetting: ENV.secretMaxAgeSeconds,
  message:
    `takes effect on running intakes within one registry refresh (${ENV.registryRefreshSeconds}, ${intakeWithinSeconds} s by default), ` +
    `and for renewal, reconcile, lifecycle handling and resync within their secret cache age (${ENV.secretMaxAgeSeconds}, ${graphCallsWithinSeconds} s by default)`,
};
