import type { RegisteredIntegration } from '../routing/integration-registry';
import type { Connection, Integration, SharedClientState } from './items';
import type { PageKey } from './page-key';

/** An item that failed to parse (edited by hand, say): skipped, reported, never fatal. */
export interface InvalidItem {
  sk: string;
  reason: string;
}

export interface ConnectionsPage {
  connections: Connection[];
  invalidItems: readonly InvalidItem[];
  /** Undefined on the last page. */
  nextKey?: PageKey;
}

export interface NewConnection {
  integrationId: string;
  connectionId: string;
  tenantId: string;
  subscriptions?: readonly string[];
}

/** The items of an integration's partition, by kind (shared/store/items.ts); `other` is any item of no known kind. */
export interface IntegrationItemCounts {
  connections: number;
  subscriptions: number;
  tenantRoutes: number;
  resyncStates: number;
  other: number;
}

export interface ConnectionsStore {
  /** `sharedClientState` absent: the stored setting is kept (accepted when never set). */
  putIntegration(input: { integrationId: string; provider: string; sharedClientState?: SharedClientState }): Promise<{ integration: Integration; created: boolean }>;
  /** After a change of the integration's secret alone (certificates): running intakes re-read it. False if gone. */
  bumpConfigVersion(integrationId: string): Promise<boolean>;
  getIntegration(integrationId: string): Promise<Integration | undefined>;
  /** What the integration owns in the table besides its item, read consistently. */
  countIntegrationItems(integrationId: string): Promise<IntegrationItemCounts>;
  /**
   * Deletes every item of the integration's partition, then the integration item: what was deleted, and whether the
   * integration item existed. Its Graph subscriptions must be deleted before: their records are deleted here.
   */
  removeIntegration(integrationId: string): Promise<{ items: IntegrationItemCounts; integration: boolean }>;
  listIntegrations(): Promise<{ integrations: Integration[]; invalidItems: readonly InvalidItem[] }>;
  /** `subscriptions`: the connection's desired subscriptions, `<resource>:<changeTypes>` strings, already validated. */
  addConnection(input: NewConnection): Promise<Connection>;
  getConnection(integrationId: string, connectionId: string): Promise<Connection | undefined>;
  listConnections(integrationId: string): Promise<{ connections: Connection[]; invalidItems: readonly InvalidItem[] }>;
  /** One page of the integration's connections, in key order; `startKey` is the previous page's `nextKey`. */
  listConnectionsPage(integrationId: string, options: { limit: number; startKey?: PageKey }): Promise<ConnectionsPage>;
  /** Which of these connections have an item, readable or not, read consistently (several per call). */
  existingConnectionIds(integrationId: string, connectionIds: readonly string[]): Promise<Set<string>>;
  removeConnection(integrationId: string, connectionId: string): Promise<boolean>;
  /**
   * Replaces the connection's desired subscriptions. With `ifUpdatedAt`, only if the item was not changed since it
   * was read (a read-modify-write that loses no concurrent edit). Undefined if the connection is gone or changed.
   */
  setSubscriptions(
    integrationId: string,
    connectionId: string,
    subscriptions: readonly string[],
    options?: { ifUpdatedAt?: string },
  ): Promise<Connection | undefined>;
  /**
   * Marks the connection needs-consent with `reason` (made one line). Already needs-consent: the reason is
   * replaced, the time it became so is kept. False if the connection is gone: a deleted connection is never recreated.
   */
  markNeedsConsent(integrationId: string, connectionId: string, reason: string): Promise<boolean>;
  /**
   * Records that the reconciler could not create the declaration's subscription (`declaration`: its declarationKey):
   * the error (made one line), one more failed run, now. Leaves updatedAt alone, like a status change. False if the
   * connection is gone.
   */
  recordCreateFailure(integrationId: string, connectionId: string, declaration: string, error: string): Promise<boolean>;
  /** Forgets the declaration's recorded failure (its subscription was created). False if none was recorded. */
  clearCreateFailure(integrationId: string, connectionId: string, declaration: string): Promise<boolean>;
  /** Makes a needs-consent connection active again; false if it is gone or was not needs-consent. */
  clearNeedsConsent(integrationId: string, connectionId: string): Promise<boolean>;
  loadRegistry(): Promise<RegisteredIntegration[]>;
}

export class IntegrationNotFoundError extends Error {
  override readonly name = 'IntegrationNotFoundError';
  constructor(readonly integrationId: string) {
    super(`integration "${integrationId}" does not exist (create it with: graph-relay integrations put ${integrationId} --provider microsoft-oauth2-cc)`);
  }
}

export class ConnectionExistsError extends Error {
  override readonly name = 'ConnectionExistsError';
  constructor(readonly integrationId: string, readonly connectionId: string) {
    super(`connection "${connectionId}" already exists in integration "${integrationId}"`);
  }
}

export { StoreDataError } from './store-data-error';
