import { GetSecretValueCommand, ResourceNotFoundException, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describeIssues } from '../graph/change-notification';
import type { RichConfig } from '../intake/rich-notifications';
import { encryptionKeysFrom } from './encryption-keys';
import { describeCause, describeError } from '../util/errors';
import { clientIdSchema, integrationSecretName, webhookSecretsPartSchema } from './integration-secret';

/** The secret could not be read (service error, access denied): the request must fail with 5xx so Graph retries. */
export class SecretUnavailableError extends Error {
  override readonly name = 'SecretUnavailableError';
}

export interface IntegrationSecretCacheOptions {
  client: Pick<SecretsManagerClient, 'send'>;
  prefix: string;
  /** How long a read secret is trusted before it is read again (rotation shows within this). */
  maxAgeSeconds: number;
  /**
   * Minimum time between re-reads of one integration's secret forced by a clientState mismatch; also how long a
   * missing or unparsable secret is remembered by `accepted` before it is looked for again. Default 0.
   */
  refreshIntervalSeconds?: number;
  /**
   * When a scheduled re-read fails (Secrets Manager erroring or unreachable, not a missing secret), the last secret
   * read successfully keeps being used for up to this long, so that an outage of Secrets Manager does not turn every
   * webhook into a 503. 0 turns it off. A re-read forced by a clientState mismatch never falls back: a secret rotated
   * during the outage must not make genuine notifications look forged.
   */
  staleIfErrorSeconds?: number;
  /** Told each time a stale secret is used instead of a failed read (the runtime logs it). */
  onStale?: (event: { integrationId: string; ageSeconds: number; error: string }) => void;
  now?: () => number;
}

/** The webhook secrets an integration currently accepts, or `undefined` when it has none (refuse everything). */
export type AcceptedSecrets = readonly string[] | undefined;

/** After a mismatch: the secrets as read since the request arrived, or `unconfirmed` when no such read may be made now. */
export type FreshSecrets = AcceptedSecrets | 'unconfirmed';

/**
 * One read of a secret: what it said, and when the read began and ended. `json` is kept whenever the secret parsed,
 * even when its webhook secrets did not: the functions calling Graph read the rest of it.
 */
interface Entry {
  outcome:
    | { kind: 'present'; raw: string; json: unknown; accepted: readonly string[] }
    | { kind: 'missing' }
    | { kind: 'invalid'; raw: string | undefined; json?: unknown; error: SecretUnavailableError };
  startedAt: number;
  readAt: number;
}

/**
 * The integration secrets (`<prefix><integrationId>`, shaped as integration-secret.ts says) from Secrets Manager,
 * cached per integration with an explicit max age; concurrent callers share one read. The intake asks for the
 * webhook secrets it accepts (`accepted`, `acceptedSince`, `richConfig`); the functions that call Graph ask for the
 * whole parsed secret (`document`). Only integrations the registry knows are ever looked up, so the cache holds at
 * most one entry per integration.
 */
export class IntegrationSecretCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new Map<string, { startedAt: number; generation: number; entry: Promise<Entry> }>();
  private readonly lastForcedAt = new Map<string, number>();
  /** Moves on `invalidate`: a read begun before it neither serves later callers nor fills the cache. */
  private readonly generations = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly options: IntegrationSecretCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Reads of Secrets Manager made so far. */
  reads = 0;

  /** The cached secrets while fresh, else a new read (shared with concurrent callers). */
  async accepted(integrationId: string): Promise<AcceptedSecrets> {
    const cached = this.entries.get(integrationId);
    if (cached !== undefined && this.isFresh(cached)) return acceptedOf(cached);
    try {
      return acceptedOf(await this.read(integrationId));
    } catch (error) {
      const stale = error instanceof SecretUnavailableError ? undefined : this.staleAccepted(integrationId, cached, error);
      if (stale !== undefined) return stale;
      throw error instanceof SecretUnavailableError ? error : unavailable(this.nameOf(integrationId), error);
    }
  }

  /**
   * After a clientState mismatch: the secrets as read at or after `since` (when the request arrived), so that a
   * secret rotated just before is seen. A read already under way since then is joined; otherwise one is made, at
   * most one per refresh interval per integration unless `vouched` (the request also carried items the cached
   * secret verified, so its sender knows a secret: Graph, not a stranger making us read). `unconfirmed` when no
   * read may be made now: the caller must not treat the mismatch as proven.
   */
  async acceptedSince(integrationId: string, since: number, options: { vouched?: boolean } = {}): Promise<FreshSecrets> {
    const cached = this.entries.get(integrationId);
    if (cached !== undefined && cached.startedAt >= since) return acceptedOf(cached);
    const flight = this.inFlight.get(integrationId);
    if (flight !== undefined && flight.startedAt >= since) return acceptedOf(await this.settle(integrationId, flight.entry));
    if (!this.mayForce(integrationId) && options.vouched !== true) return 'unconfirmed';
    if (flight !== undefined) await flight.entry.catch(() => undefined);
    return acceptedOf(await this.settle(integrationId, this.read(integrationId)));
  }

  /**
   * The secrets as read now, for a health check: a read already under way is joined, the cached copy is never
   * used and a failed read never falls back to it, and the re-read allowance of clientState mismatches is left
   * untouched. The read refreshes the cache as any other does.
   * @throws SecretUnavailableError when Secrets Manager cannot be read or the secret is not valid.
   */
  async fresh(integrationId: string): Promise<AcceptedSecrets> {
    return acceptedOf(await this.settle(integrationId, this.read(integrationId)));
  }

  /** Drops the cached secret (the integration's configuration changed): the next request reads it again. */
  invalidate(integrationId: string): void {
    this.entries.delete(integrationId);
    this.lastForcedAt.delete(integrationId);
    this.generations.set(integrationId, this.generationOf(integrationId) + 1);
  }

  /**
   * What rich notifications need from the same (cached) secret: the app's client id (the validation tokens'
   * audience) and the encryption keys. Plain notifications never depend on either.
   * @throws SecretUnavailableError when the secret cannot be read or does not exist.
   */
  async richConfig(integrationId: string): Promise<RichConfig> {
    const accepted = await this.accepted(integrationId);
    const outcome = this.entries.get(integrationId)?.outcome;
    if (accepted === undefined || outcome?.kind !== 'present') {
      throw new SecretUnavailableError(`secret ${this.nameOf(integrationId)} does not exist`);
    }
    const document = outcome.json as Record<string, unknown>;
    const clientId = clientIdSchema.safeParse(document['clientId']);
    return { audiences: clientId.success ? [clientId.data.toLowerCase()] : [], keys: encryptionKeysFrom(document) };
  }

  /**
   * The whole secret as parsed JSON (webhook secrets, app credentials, encryption certificates), for the functions
   * that call Graph: the same object while the secret is unchanged, so what is derived from it (PEMs parsed) is
   * reused. Unlike `accepted`, a missing or unparsable secret is never remembered and a failed read never falls back
   * to an older secret: the next call reads again.
   * @throws SecretUnavailableError when the secret is missing, unreadable or not JSON; never with its value.
   */
  async document(integrationId: string): Promise<unknown> {
    const cached = this.entries.get(integrationId);
    if (cached !== undefined && 'json' in cached.outcome && this.isFresh(cached, this.options.maxAgeSeconds)) return cached.outcome.json;
    let entry: Entry;
    try {
      entry = await this.read(integrationId);
    } catch (error) {
      throw new SecretUnavailableError(`cannot read secret ${this.nameOf(integrationId)}: ${describeError(error)}`);
    }
    const { outcome } = entry;
    if (outcome.kind === 'present' || (outcome.kind === 'invalid' && 'json' in outcome)) return outcome.json;
    if (outcome.kind === 'missing' || outcome.raw === undefined || outcome.raw === '') {
      throw new SecretUnavailableError(`secret ${this.nameOf(integrationId)} does not exist`);
    }
    throw outcome.error;
  }

  private isFresh(entry: Entry, maxAgeSeconds = entry.outcome.kind === 'present' ? this.options.maxAgeSeconds : this.refreshIntervalSeconds()): boolean {
    return this.now() - entry.readAt < maxAgeSeconds * 1000;
  }

  private refreshIntervalSeconds(): number {
    return this.options.refreshIntervalSeconds ?? 0;
  }

  private mayForce(integrationId: string): boolean {
    const last = this.lastForcedAt.get(integrationId) ?? Number.NEGATIVE_INFINITY;
    if (this.now() - last < this.refreshIntervalSeconds() * 1000) return false;
    this.lastForcedAt.set(integrationId, this.now());
    return true;
  }

  /** A read's entry, with service errors (never a missing secret) turned into SecretUnavailableError. */
  private async settle(integrationId: string, entry: Promise<Entry>): Promise<Entry> {
    try {
      return await entry;
    } catch (error) {
      throw unavailable(this.nameOf(integrationId), error);
    }
  }

  /** One read per integration at a time; its result replaces the cached entry unless it failed. */
  private read(integrationId: string): Promise<Entry> {
    const generation = this.generationOf(integrationId);
    const running = this.inFlight.get(integrationId);
    if (running !== undefined && running.generation === generation) return running.entry;
    const startedAt = this.now();
    const entry = this.fetch(integrationId, startedAt, generation).finally(() => {
      if (this.inFlight.get(integrationId)?.entry === entry) this.inFlight.delete(integrationId);
    });
    this.inFlight.set(integrationId, { startedAt, generation, entry });
    return entry;
  }

  private generationOf(integrationId: string): number {
    return this.generations.get(integrationId) ?? 0;
  }

  private async fetch(integrationId: string, startedAt: number, generation: number): Promise<Entry> {
    const name = this.nameOf(integrationId);
    this.reads += 1;
    let raw: string | undefined;
    try {
      const output = await this.options.client.send(new GetSecretValueCommand({ SecretId: name }));
      raw = output.SecretString;
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw error;
      return this.keep(integrationId, generation, { outcome: { kind: 'missing' }, startedAt, readAt: this.now() });
    }
    const known = this.entries.get(integrationId)?.outcome;
    if (known?.kind === 'present' && known.raw === raw) return this.keep(integrationId, generation, { outcome: known, startedAt, readAt: this.now() });
    return this.keep(integrationId, generation, { outcome: parseSecret(name, raw), startedAt, readAt: this.now() });
  }

  /** Caches the entry unless the secret was invalidated while it was read (it may predate the change). */
  private keep(integrationId: string, generation: number, entry: Entry): Entry {
    if (generation === this.generationOf(integrationId)) this.entries.set(integrationId, entry);
    return entry;
  }

  /** The last good secret, if it is recent enough to stand in for a failed read. */
  private staleAccepted(integrationId: string, known: Entry | undefined, error: unknown): readonly string[] | undefined {
    const limitMs = (this.options.staleIfErrorSeconds ?? 0) * 1000;
    if (known?.outcome.kind !== 'present' || limitMs <= 0) return undefined;
    const ageMs = this.now() - known.readAt;
    if (ageMs > limitMs) return undefined;
    this.options.onStale?.({ integrationId, ageSeconds: Math.round(ageMs / 1000), error: describeCause(error) });
    return known.outcome.accepted;
  }

  private nameOf(integrationId: string): string {
    return integrationSecretName(this.options.prefix, integrationId);
  }
}

function acceptedOf(entry: Entry): AcceptedSecrets {
  switch (entry.outcome.kind) {
    case 'present':
      return entry.outcome.accepted;
    case 'missing':
      return undefined;
    case 'invalid':
      throw entry.outcome.error;
  }
}

function parseSecret(name: string, raw: string | undefined): Entry['outcome'] {
  if (typeof raw !== 'string') return { kind: 'invalid', raw, error: new SecretUnavailableError(`secret ${name} has no SecretString`) };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    // A JSON parse error quotes the text it failed on, so its message is never repeated.
    return { kind: 'invalid', raw, error: new SecretUnavailableError(`secret ${name} is not JSON`) };
  }
  // Only the webhook secrets: app credentials got wrong must not stop notifications from being accepted.
  const parsed = webhookSecretsPartSchema.safeParse(json);
  if (!parsed.success) return { kind: 'invalid', raw, json, error: new SecretUnavailableError(`secret ${name} is invalid: ${describeIssues(parsed.error)}`) };
  const { webhookSecret, previousWebhookSecret } = parsed.data;
  return { kind: 'present', raw, json, accepted: previousWebhookSecret === undefined ? [webhookSecret] : [webhookSecret, previousWebhookSecret] };
}

function unavailable(name: string, error: unknown): SecretUnavailableError {
  if (error instanceof SecretUnavailableError) return error;
  return new SecretUnavailableError(`cannot read secret ${name}: ${describeCause(error)}`);
}
