/**
 * Per-stage settings, typed and checked in code: the stage name is the only input (`cdk synth -c stage=prod`).
 */
import { RetentionDays } from 'aws-cdk-lib/aws-logs';

export interface StageSettings {
  /** EventBridge `source` of every event the relay publishes; consumers' rules match on it. */
  readonly eventSource: string;
  /** Keep the connections table (RETAIN, deletion protection) and logs when the stack goes away. */
  readonly retainData: boolean;
  readonly logRetention: RetentionDays;
  readonly intakeMemoryMb: number;
  /** Days published events stay replayable from the bus archive. */
  readonly archiveRetentionDays: number;
  /** Default-stage throttling of the webhook API, requests per second. */
  readonly webhookThrottle: { readonly rateLimit: number; readonly burstLimit: number };
  /**
   * Minutes between renewal runs. Renewal is due at half a subscription's lifetime or an hour before expiry
   * (shared/subscriptions/renewal-policy.ts), so a few missed runs never let one lapse.
   */
  readonly renewalIntervalMinutes: number;
  /**
   * Minutes between full reconciles. Connection changes are reconciled at once from the table's stream; the
   * schedule catches what that missed (failures left to the operator, integrations whose credentials came later).
   */
  readonly reconcileIntervalMinutes: number;
}

export interface StageConfig extends StageSettings {
  readonly stage: StageName;
  /** Secrets Manager name prefix of the per-integration secrets, `<prefix><integrationId>`. */
  readonly webhookSecretPrefix: string;
}

const STAGES = {
  dev: {
    eventSource: 'graph-relay',
    retainData: false,
    logRetention: RetentionDays.ONE_WEEK,
    intakeMemoryMb: 1024,
    archiveRetentionDays: 7,
    webhookThrottle: { rateLimit: 50, burstLimit: 100 },
    renewalIntervalMinutes: 15,
    reconcileIntervalMinutes: 60,
  },
  prod: {
    eventSource: 'graph-relay',
    retainData: true,
    logRetention: RetentionDays.ONE_MONTH,
    intakeMemoryMb: 1024,
    archiveRetentionDays: 30,
    // Graph delivers in bursts after outages; throttled deliveries are retried by Graph, so err on the high side.
    webhookThrottle: { rateLimit: 500, burstLimit: 1000 },
    renewalIntervalMinutes: 15,
    reconcileIntervalMinutes: 60,
  },
} as const satisfies Record<string, StageSettings>;

export type StageName = keyof typeof STAGES;

export const STAGE_NAMES = Object.keys(STAGES) as StageName[];

export const DEFAULT_STAGE: StageName = 'dev';

export class UnknownStageError extends Error {
  constructor(value: unknown) {
    super(`Unknown stage ${JSON.stringify(value)}: use -c stage=<${STAGE_NAMES.join('|')}>.`);
    this.name = 'UnknownStageError';
  }
}

function isStageName(value: unknown): value is StageName {
  return typeof value === 'string' && Object.hasOwn(STAGES, value);
}

/** Parses the `stage` context value; `undefined` means the default stage. */
export function parseStageConfig(value: unknown): StageConfig {
  const stage = value === undefined ? DEFAULT_STAGE : value;
  if (!isStageName(stage)) throw new UnknownStageError(value);
  return { stage, ...STAGES[stage], webhookSecretPrefix: `graph-relay/${stage}/integrations/` };
}
