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
  /**
   * Throttle of the webhook route (and the API stage's default): steady requests per second and burst. API
   * Gateway answers 429 above it, which Graph treats like any failed delivery and retries, so a flood costs no
   * Lambda time. Size it above the busiest Graph delivery the stage expects (README, "The edge").
   */
  readonly webhookThrottle: { readonly rateLimit: number; readonly burstLimit: number };
  /**
   * Reserved concurrency of the intake and the lifecycle handler: a floor no other function in the account can take
   * and a ceiling a flood cannot pass. `'unreserved'` opts out (the function shares the account's pool). AWS keeps
   * 100 of the account's concurrency unreserved, so the stack's reservations (these, plus 1 each for renewal and the
   * reconciler) must leave that much of the account limit free or the deploy fails.
   */
  readonly reservedConcurrency: { readonly intake: ReservedConcurrency; readonly lifecycle: ReservedConcurrency };
  /**
   * Puts the webhook behind CloudFront and an AWS WAF web ACL (README, "The edge"): the notificationUrl becomes the
   * distribution's, and the intake refuses requests that did not come through it. Absent: Graph posts to the HTTP
   * API directly.
   */
  readonly webhookFirewall?: WebhookFirewallSettings;
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
  /**
   * The resync safety net: hours between catch-ups of every `;resync` declaration, an incremental delta round each
   * (one request when nothing changed) that also keeps its delta link from expiring (7 days for directory objects).
   * 0 turns it off: catch-ups then run only on Graph's `missed`, recreations, resume and operator requests.
   */
  readonly resyncEveryHours: number;
  /** Subscribed (e-mail, to be confirmed once) to the stack's alarm topic. At most one of the two alarm fields. */
  readonly alarmEmail?: string;
  /** An existing SNS topic (same account and region) to send alarms to instead of the stack's own. */
  readonly alarmTopicArn?: string;
  /**
   * Integrations of the stage, integration id → provider: each gets a `WebhookUrl<Id>` stack output with its exact
   * notificationUrl. The integration itself (secret, connections) is still created with the operator CLI.
   */
  readonly integrations: Readonly<Record<string, string>>;
  /**
   * Other AWS accounts whose own rules may sit on the bus (README, "Consumers in other accounts"): 12-digit account
   * ids, or AWS Organizations ids (`o-…`) for every account of an organization. Each may create and manage only the
   * rules it created. The stack's own account needs no entry (IAM already governs it). Absent or empty: none.
   */
  readonly consumerAccounts?: readonly string[];
  /**
   * Runs the relay in two regions (README, "Regional outage"): a stack per region, the connections table global,
   * and Graph posting to `https://<webhookDomain>/webhook/<id>`, which Route 53 answers with the primary region's API
   * while its health check passes and with the secondary's otherwise. Absent: one region, exactly as before.
   */
  readonly multiRegion?: MultiRegionSettings;
}

export interface MultiRegionSettings {
  /** Holds the Graph writer lease first; its stack creates the global table and is deployed first. */
  readonly primaryRegion: string;
  /** Holds the table's replica, and takes the webhook and the writer lease when the primary fails. */
  readonly secondaryRegion: string;
  /**
   * The third region of the writer lease's strongly consistent table (a witness: it stores nothing readable, it
   * votes): a region cut off from the other two can then no longer renew the lease. DynamoDB requires all three in
   * one of its region sets (US: us-east-1, us-east-2, us-west-2; EU: eu-west-1, eu-west-2, eu-west-3, eu-central-1;
   * AP: ap-northeast-1, ap-northeast-2, ap-northeast-3).
   */
  readonly witnessRegion: string;
  /** Host name of every notificationUrl (failover records in the hosted zone; a certificate in each region). */
  readonly webhookDomain: string;
  /** The Route 53 public hosted zone holding webhookDomain, by id (`Z…`) and name. */
  readonly hostedZoneId: string;
  readonly hostedZoneName: string;
}

/** A number of concurrent executions (at least 1), or `'unreserved'`. */
export type ReservedConcurrency = number | 'unreserved';

export interface WebhookFirewallSettings {
  /**
   * Requests one IP address may send in any 5 minutes before the web ACL answers it 429 (a WAF rate-based rule).
   * Graph spreads deliveries over many addresses of its own; keep this well above what one of them sends.
   */
  readonly requestsPerIpPer5Minutes: number;
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
    // Development accounts are often new, with a low concurrency limit that leaves nothing to reserve.
    reservedConcurrency: { intake: 'unreserved', lifecycle: 'unreserved' },
    renewalIntervalMinutes: 15,
    reconcileIntervalMinutes: 60,
    resyncEveryHours: 24,
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
    // Intake: the throttle's 1,000-request burst at about 100 ms each; lifecycle: reauthorizations in parallel, well
    // inside Graph's per-app rate. With renewal and the reconciler, 112 of a default account's 1,000 are reserved.
    reservedConcurrency: { intake: 100, lifecycle: 10 },
    renewalIntervalMinutes: 15,
    reconcileIntervalMinutes: 60,
    resyncEveryHours: 24,
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
/** An AWS account id, and an AWS Organizations id as Organizations documents it. */
export const ACCOUNT_ID = /^\d{12}$/;
export const ORGANIZATION_ID = /^o-[a-z0-9]{10,32}$/;
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

/** A region name as AWS spells them (us-east-1, eu-central-2, us-gov-west-1, ap-southeast-7). */
export const AWS_REGION_NAME = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
/** A DNS host name: dot-separated labels of letters, digits and inner hyphens, 253 characters at most. */
const HOST_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;
/** A Route 53 hosted zone id as the console shows it (without the `/hostedzone/` prefix). */
const HOSTED_ZONE_ID = /^Z[A-Z0-9]{1,31}$/;

/** WAF's bounds for a rate-based rule's limit. */
const WAF_RATE_LIMIT = { min: 10, max: 2_000_000_000 } as const;

function validateSettings(stage: string, settings: StageSettings): void {
  const refuse = (field: string, problem: string): never => {
    throw new StageConfigError(`Stage "${stage}": ${field} ${problem}.`);
  };
  const { rateLimit, burstLimit } = settings.webhookThrottle;
  if (typeof rateLimit !== 'number' || !Number.isFinite(rateLimit) || rateLimit <= 0) {
    refuse('webhookThrottle.rateLimit', `must be a number of requests per second above 0 (0 would refuse every delivery), got ${JSON.stringify(rateLimit)}`);
  }
  if (!Number.isInteger(burstLimit) || burstLimit < 1) {
    refuse('webhookThrottle.burstLimit', `must be a whole number of requests, at least 1, got ${JSON.stringify(burstLimit)}`);
  }
  for (const fn of ['intake', 'lifecycle'] as const) {
    const value: unknown = settings.reservedConcurrency[fn];
    if (value === 'unreserved') continue;
    if (value === 0) {
      refuse(`reservedConcurrency.${fn}`, 'is 0, which would stop the function (Lambda throttles every invocation): use \'unreserved\' to opt out');
    }
    if (!Number.isInteger(value) || (value as number) < 1) {
      refuse(`reservedConcurrency.${fn}`, `must be a whole number of concurrent executions, at least 1, or 'unreserved', got ${JSON.stringify(value)}`);
    }
  }
  if (!Number.isInteger(settings.resyncEveryHours) || settings.resyncEveryHours < 0 || settings.resyncEveryHours > 24 * 6) {
    refuse('resyncEveryHours', `must be a whole number of hours from 0 (off) to 144 (Graph's directory delta links expire after 7 days), got ${JSON.stringify(settings.resyncEveryHours)}`);
  }
  if (settings.webhookFirewall !== undefined) {
    const limit = settings.webhookFirewall.requestsPerIpPer5Minutes;
    if (!Number.isInteger(limit) || limit < WAF_RATE_LIMIT.min || limit > WAF_RATE_LIMIT.max) {
      refuse('webhookFirewall.requestsPerIpPer5Minutes', `must be a whole number from ${WAF_RATE_LIMIT.min} to ${WAF_RATE_LIMIT.max} (WAF's bounds), got ${JSON.stringify(limit)}`);
    }
  }
  if (settings.multiRegion !== undefined) validateMultiRegion(settings, refuse);
  if (settings.alarmEmail !== undefined && settings.alarmTopicArn !== undefined) {
    refuse('alarmEmail', 'and alarmTopicArn are exclusive: alarms go to the stack\'s topic or to the given one');
  }
  if (settings.alarmEmail !== undefined && !EMAIL.test(settings.alarmEmail)) {
    refuse('alarmEmail', `must be an e-mail address, got ${JSON.stringify(settings.alarmEmail)}`);
  }
  if (settings.alarmTopicArn !== undefined && !SNS_TOPIC_ARN.test(settings.alarmTopicArn)) {
    refuse('alarmTopicArn', `must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>), got ${JSON.stringify(settings.alarmTopicArn)}`);
  }
  const consumers = new Set<string>();
  for (const [index, consumer] of (settings.consumerAccounts ?? []).entries()) {
    if (typeof consumer !== 'string' || !(ACCOUNT_ID.test(consumer) || ORGANIZATION_ID.test(consumer))) {
      refuse(`consumerAccounts[${index}]`, `must be a 12-digit AWS account id or an AWS Organizations id (o-…), got ${JSON.stringify(consumer)}`);
    }
    if (consumers.has(consumer)) refuse('consumerAccounts', `lists ${JSON.stringify(consumer)} twice`);
    consumers.add(consumer);
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
 * The region sets of DynamoDB's multi-Region strong consistency: the writer lease table's two replicas and its
 * witness must all be in one (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateGlobalTableWitnessGroupMemberAction.html).
 */
export const STRONG_CONSISTENCY_REGION_SETS: Readonly<Record<string, readonly string[]>> = {
  US: ['us-east-1', 'us-east-2', 'us-west-2'],
  EU: ['eu-west-1', 'eu-west-2', 'eu-west-3', 'eu-central-1'],
  AP: ['ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3'],
};

function validateMultiRegion(settings: StageSettings, refuse: (field: string, problem: string) => never): void {
  const { primaryRegion, secondaryRegion, witnessRegion, webhookDomain, hostedZoneId, hostedZoneName } = settings.multiRegion!;
  for (const [field, region] of [['primaryRegion', primaryRegion], ['secondaryRegion', secondaryRegion], ['witnessRegion', witnessRegion]] as const) {
    if (typeof region !== 'string' || !AWS_REGION_NAME.test(region)) refuse(`multiRegion.${field}`, `must be an AWS region name such as eu-west-1, got ${JSON.stringify(region)}`);
  }
  if (primaryRegion === secondaryRegion) refuse('multiRegion.secondaryRegion', `must differ from primaryRegion (both ${JSON.stringify(primaryRegion)}): a replica needs another region`);
  if (witnessRegion === primaryRegion || witnessRegion === secondaryRegion) {
    refuse('multiRegion.witnessRegion', `must be a third region, not one of the two the relay runs in (${JSON.stringify(witnessRegion)})`);
  }
  const set = Object.entries(STRONG_CONSISTENCY_REGION_SETS).find(([, regions]) => [primaryRegion, secondaryRegion, witnessRegion].every((r) => regions.includes(r)));
  if (set === undefined) {
    const sets = Object.entries(STRONG_CONSISTENCY_REGION_SETS).map(([name, regions]) => `${name}: ${regions.join(', ')}`).join('; ');
    refuse(
      'multiRegion',
      `regions ${primaryRegion}, ${secondaryRegion} and witness ${witnessRegion} are not in one region set of DynamoDB's multi-Region strong consistency, which the writer lease needs (${sets})`,
    );
  }
  if (typeof hostedZoneId !== 'string' || !HOSTED_ZONE_ID.test(hostedZoneId)) {
    refuse('multiRegion.hostedZoneId', `must be a Route 53 hosted zone id (Z followed by upper-case letters and digits), got ${JSON.stringify(hostedZoneId)}`);
  }
  const zone = typeof hostedZoneName === 'string' ? hostedZoneName.replace(/\.$/, '') : hostedZoneName;
  if (typeof zone !== 'string' || !HOST_NAME.test(zone)) refuse('multiRegion.hostedZoneName', `must be a lower-case DNS name such as example.com, got ${JSON.stringify(hostedZoneName)}`);
  if (typeof webhookDomain !== 'string' || !HOST_NAME.test(webhookDomain)) {
    refuse('multiRegion.webhookDomain', `must be a lower-case host name such as graph.example.com, got ${JSON.stringify(webhookDomain)}`);
  }
  if (webhookDomain !== zone && !webhookDomain.endsWith(`.${zone}`)) {
    refuse('multiRegion.webhookDomain', `${JSON.stringify(webhookDomain)} is not inside the hosted zone ${JSON.stringify(zone)}: its records and certificate validation go there`);
  }
  if (settings.webhookFirewall !== undefined) {
    refuse(
      'multiRegion',
      'cannot be combined with webhookFirewall yet: CloudFront would need an origin group failing over between the two regional APIs, and the origin-verify value shared by both (not built)',
    );
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
