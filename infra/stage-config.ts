/**
 * Per-stage settings, typed and checked in code: the stage name is the only input (`cdk synth -c stage=prod`).
 * More stages: add an entry to STAGES; it is validated when selected, before anything is synthesized.
 */
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { integrationIdSchema } from '../shared/store/items';

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
  /** Subscribed (e-mail, to be confirmed once) to the stack's alarm topic. At most one of the two alarm fields. */
  readonly alarmEmail?: string;
  /** An existing SNS topic (same account and region) to send alarms to instead of the stack's own. */
  readonly alarmTopicArn?: string;
  /**
   * Integrations of the stage, integration id → provider: each gets a `WebhookUrl<Id>` stack output with its exact
   * notificationUrl. The integration itself (secret, connections) is still created with the operator CLI.
   */
  readonly integrations: Readonly<Record<string, string>>;
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
    integrations: { contoso: 'microsoft-oauth2-cc' },
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
    integrations: {},
  },
} as const satisfies Record<string, StageSettings>;

export type StageName = keyof typeof STAGES;

export const STAGE_NAMES = Object.keys(STAGES) as StageName[];

export const DEFAULT_STAGE: StageName = 'dev';

/** A stage configuration that cannot be used; `app.ts` prints its one-line message and exits. */
export class StageConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StageConfigError';
  }
}

export class UnknownStageError extends StageConfigError {
  constructor(value: unknown, names: readonly string[] = STAGE_NAMES) {
    super(`Unknown stage ${JSON.stringify(value)}: use -c stage=<${names.join('|')}>.`);
    this.name = 'UnknownStageError';
  }
}

/** A deliberately plain shape check: the address only has to be deliverable-looking, SNS confirms it. */
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const SNS_TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z]{2}(-[a-z]+)+-\d:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$/;
/** As the operator CLI accepts `--provider`. */
const PROVIDER = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** Logical id (and key in `describe-stacks`) of the output holding an integration's notificationUrl. */
export function webhookUrlOutputId(integrationId: string): string {
  const pascal = integrationId
    .split(/[^A-Za-z0-9]+/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
  return `WebhookUrl${pascal}`;
}

function validateSettings(stage: string, settings: StageSettings): void {
  const refuse = (field: string, problem: string): never => {
    throw new StageConfigError(`Stage "${stage}": ${field} ${problem}.`);
  };
  if (settings.alarmEmail !== undefined && settings.alarmTopicArn !== undefined) {
    refuse('alarmEmail', 'and alarmTopicArn are exclusive: alarms go to the stack\'s topic or to the given one');
  }
  if (settings.alarmEmail !== undefined && !EMAIL.test(settings.alarmEmail)) {
    refuse('alarmEmail', `must be an e-mail address, got ${JSON.stringify(settings.alarmEmail)}`);
  }
  if (settings.alarmTopicArn !== undefined && !SNS_TOPIC_ARN.test(settings.alarmTopicArn)) {
    refuse('alarmTopicArn', `must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>), got ${JSON.stringify(settings.alarmTopicArn)}`);
  }
  const outputIds = new Map<string, string>();
  for (const [integrationId, provider] of Object.entries(settings.integrations)) {
    const parsed = integrationIdSchema.safeParse(integrationId);
    if (!parsed.success) {
      refuse(`integrations[${JSON.stringify(integrationId)}]`, `is not a valid integration id (${parsed.error.issues[0]?.message ?? 'invalid'})`);
    }
    if (typeof provider !== 'string' || !PROVIDER.test(provider)) {
      refuse(`integrations[${JSON.stringify(integrationId)}]`, `must name a provider (lower-case letters, digits and "-"), got ${JSON.stringify(provider)}`);
    }
    const outputId = webhookUrlOutputId(integrationId);
    const clash = outputIds.get(outputId);
    if (clash !== undefined) {
      refuse(`integrations[${JSON.stringify(integrationId)}]`, `and ${JSON.stringify(clash)} would share the stack output ${outputId}`);
    }
    outputIds.set(outputId, integrationId);
  }
}

/**
 * Parses the `stage` context value; `undefined` means the default stage. The selected entry is validated:
 * a bad one throws a StageConfigError naming the stage and the field. `stages` is for the tests.
 */
export function parseStageConfig(value: unknown, stages: Readonly<Record<string, StageSettings>> = STAGES): StageConfig {
  const stage = value === undefined ? DEFAULT_STAGE : value;
  if (typeof stage !== 'string' || !Object.hasOwn(stages, stage)) throw new UnknownStageError(value, Object.keys(stages));
  const settings = stages[stage]!;
  validateSettings(stage, settings);
  return { stage: stage as StageName, ...settings, webhookSecretPrefix: `graph-relay/${stage}/integrations/` };
}
