import type { SharedClientState } from '../store/items';
/** What the intake knows of an integration without reading anything per request. */
export interface RegisteredIntegration {
  integrationId: string;
  provider: string;
  configVersion: number;
  routesVersion: number;
  /** Whether the plain webhook secret is accepted as clientState for every tenant; absent: accepted. */
  sharedClientState?: SharedClientState;
}

export interface IntegrationRegistryOptions {
  /** One small read: every integration item's id, provider and versions. */
  load: () => Promise<readonly RegisteredIntegration[]>;
  /** A loaded registry older than this is refreshed in the background (requests keep using it meanwhile). */
  refreshSeconds: number;
  /**
   * An unknown id may bring the next refresh forward, at most once per this many seconds in total, whatever the
   * number of ids: a flood of made-up ids costs one read per interval.
   */
  minRefreshSeconds: number;
  /** Told of each integration whose configuration or routes changed (or that was removed), on a refresh. */
  onChange?: (change: { integrationId: string; config: boolean; routes: boolean }) => void;
  /** Told when a background refresh fails; the registry read before keeps serving. */
  onRefreshError?: (error: unknown) => void;
  now?: () => number;
}

/**
 * The set of integrations, shared by every request of an instance. Concurrent requests share one read. An id not
 * in the set is answered from memory, with no read of Secrets Manager or DynamoDB and no cache entry left behind.
 */
export class IntegrationRegistry {
  private integrations: ReadonlyMap<string, RegisteredIntegration> | undefined;
  private loadedAt = Number.NEGATIVE_INFINITY;
  private lastStartedAt = Number.NEGATIVE_INFINITY;
  private inFlight: Promise<void> | undefined;
  private readonly now: () => number;

  constructor(private readonly options: IntegrationRegistryOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Reads done so far (the first load and every refresh). */
  refreshes = 0;

  /**
   * The integration, or `undefined` when it does not exist. Waits only for the first load, or for a refresh an
   * unknown id was allowed to bring forward.
   * @throws when the first load fails, or a read an unknown id brought forward (the request is answered 5xx and
   * Graph redelivers).
   */
  async lookup(integrationId: string): Promise<RegisteredIntegration | undefined> {
    if (this.integrations === undefined) await this.refresh();
    else if (this.now() - this.loadedAt >= this.options.refreshSeconds * 1000) void this.refresh().catch((error: unknown) => this.options.onRefreshError?.(error));
    const known = this.integrations?.get(integrationId);
    if (known !== undefined) return known;
    if (this.inFlight === undefined && this.now() - this.lastStartedAt < this.options.minRefreshSeconds * 1000) return undefined;
    // A read that fails leaves the answer unknown: the caller answers 5xx (Graph redelivers), never "no such
    // integration" for one that may have just been created.
    await this.refresh();
    return this.integrations?.get(integrationId);
  }

  /** One read at a time: a caller during a read waits for that read. */
  private refresh(): Promise<void> {
    this.inFlight ??= this.read().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async read(): Promise<void> {
    this.lastStartedAt = this.now();
    this.refreshes += 1;
    const loaded = await this.options.load();
    const next = new Map(loaded.map((integration) => [integration.integrationId, integration]));
    const previous = this.integrations;
    this.integrations = next;
    this.loadedAt = this.now();
    if (previous === undefined) return;
    for (const [integrationId, before] of previous) {
      const after = next.get(integrationId);
      const config = after === undefined || after.configVersion !== before.configVersion || after.provider !== before.provider;
      const routes = after === undefined || after.routesVersion !== before.routesVersion;
      if (config || routes) this.options.onChange?.({ integrationId, config, routes });
    }
  }
}
