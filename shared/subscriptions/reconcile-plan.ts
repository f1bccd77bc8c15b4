/**
 * What the reconciler would change, decided without I/O (a dry run shows this plan, a real run applies it): the
 * desired subscriptions are the connections' declarations, the actual ones the subscription records in the store.
 *
 * Deleting is the only change that loses something, so it is planned only when the record's connection is known to
 * be gone, or its (readable, fully valid) declarations no longer ask for it. Unknown is never gone: the records of a
 * connection item that does not parse, or that has an invalid declaration (a typo in an edit may be the very
 * declaration a record serves), are kept.
 *
 * A connection marked needs-consent gets no create: Graph would only refuse it again. Those creates are planned as
 * skipped, shown to the operator, until the connection is resumed; its deletes still go ahead.
 */
import type { Connection, CreateFailure } from '../store/items';
import type { SubscriptionRecord, SubscriptionStatus } from '../store/subscription-items';
import { declarationKey, formatDeclaration, parseDeclarations, type ChangeType } from './declarations';

/** The subscription a planned change is about. */
export interface PlannedSubscription {
  integrationId: string;
  connectionId: string;
  tenantId: string;
  resource: string;
  changeTypes: ChangeType[];
  /** Rich notifications; present only when true. */
  includeResourceData?: boolean;
}

/** A subscription that exists: it has a record, and Graph an id for it. */
export interface RecordedSubscription extends PlannedSubscription {
  subscriptionId: string;
}

export interface PlannedCreate extends PlannedSubscription {
  action: 'create';
  /** Declared `;resync`: a baseline is taken once it is created. Present only when true. */
  resync?: true;
  /** What the last run that tried to create it failed with, as recorded on the connection. */
  lastFailure?: CreateFailure;
}

export type DeleteReason = 'connection-removed' | 'declaration-removed' | 'tenant-changed';

export interface PlannedDelete extends RecordedSubscription {
  action: 'delete';
  reason: DeleteReason;
}

/** Why a record is kept although nothing declares it (absent when it is declared). */
export type KeepReason = 'connection-unreadable' | 'declarations-invalid';

export interface PlannedKeep extends RecordedSubscription {
  action: 'keep';
  /** needs-consent and failed records are kept (the declaration still asks for them) and shown to the operator. */
  status: SubscriptionStatus;
  /** Its declaration says `;resync`. Present only when true. */
  resync?: true;
  lastError?: string;
  reason?: KeepReason;
}

export type SkipReason = 'needs-consent';

/** A create not attempted, and why. */
export interface PlannedSkip extends PlannedSubscription {
  action: 'skip';
  reason: SkipReason;
  /** The connection's status reason and since when, as recorded. */
  statusReason?: string;
  statusChangedAt?: string;
}

export type PlannedChange = PlannedCreate | PlannedDelete;

export interface InvalidDeclaration {
  integrationId: string;
  connectionId: string;
  tenantId: string;
  declaration: string;
  /** One line, e.g. `invalid subscription declaration "users:creatd": unknown change type "creatd": …`. */
  reason: string;
}

export interface ReconcilePlan {
  create: PlannedCreate[];
  delete: PlannedDelete[];
  skipped: PlannedSkip[];
  keep: PlannedKeep[];
  invalidDeclarations: InvalidDeclaration[];
}

export interface PlanInput {
  integrationId: string;
  /** The readable connection items of the integration (or the one connection in scope, if it exists). */
  connections: readonly Connection[];
  /** Connection ids whose items exist but do not parse: their records are kept. */
  unreadableConnectionIds: readonly string[];
  /** The integration's subscription records (or the connection's, when one is in scope). */
  subscriptions: readonly SubscriptionRecord[];
  /** Limits the plan to one connection: records of other connections are left out entirely. */
  connectionId?: string;
}

export function planReconcile(input: PlanInput): ReconcilePlan {
  const plan: ReconcilePlan = { create: [], delete: [], skipped: [], keep: [], invalidDeclarations: [] };
  const inScope = (connectionId: string) => input.connectionId === undefined || input.connectionId === connectionId;
  const connections = new Map(input.connections.filter((c) => inScope(c.connectionId)).map((c) => [c.connectionId, c]));
  const unreadable = new Set(input.unreadableConnectionIds);
  const records = input.subscriptions.filter((record) => inScope(record.connectionId));

  /** Per connection: the declared keys, and whether every declaration parsed. */
  const declared = new Map<string, { keys: Set<string>; resync: Set<string>; allValid: boolean }>();
  for (const connection of connections.values()) {
    const { declarations, invalid } = parseDeclarations(connection.subscriptions ?? []);
    const ids = { integrationId: input.integrationId, connectionId: connection.connectionId, tenantId: connection.tenantId };
    for (const item of invalid) plan.invalidDeclarations.push({ ...ids, ...item });
    declared.set(connection.connectionId, {
      keys: new Set(declarations.map(declarationKey)),
      resync: new Set(declarations.filter((d) => d.resync === true).map(declarationKey)),
      allValid: invalid.length === 0,
    });
    const existing = new Set(
      records.filter((r) => r.connectionId === connection.connectionId && sameTenant(r, connection)).map((r) => declarationKey(r)),
    );
    for (const declaration of declarations) {
      if (existing.has(declarationKey(declaration))) continue;
      const what = {
        ...ids,
        resource: declaration.resource,
        changeTypes: [...declaration.changeTypes],
        ...(declaration.includeResourceData === true ? { includeResourceData: true } : {}),
      };
      if (connection.status === 'needs-consent') plan.skipped.push({ action: 'skip', ...what, reason: 'needs-consent', ...consentNotes(connection) });
      else {
        const lastFailure = connection.createFailures?.[declarationKey(declaration)];
        plan.create.push({ action: 'create', ...what, ...(declaration.resync === true ? { resync: true as const } : {}), ...(lastFailure === undefined ? {} : { lastFailure }) });
      }
    }
  }

  for (const record of records) {
    const connection = connections.get(record.connectionId);
    const wanted = declared.get(record.connectionId);
    if (connection === undefined || wanted === undefined) {
      if (unreadable.has(record.connectionId)) plan.keep.push(keep(record, 'connection-unreadable'));
      else plan.delete.push(remove(record, 'connection-removed'));
    } else if (!sameTenant(record, connection)) {
      // The connection id now names another tenant: this subscription watches a tenant nothing declares any more.
      plan.delete.push(remove(record, 'tenant-changed'));
    } else if (wanted.keys.has(declarationKey(record))) {
      const kept = keep(record);
      plan.keep.push(wanted.resync.has(declarationKey(record)) ? { ...kept, resync: true } : kept);
    } else if (!wanted.allValid) {
      plan.keep.push(keep(record, 'declarations-invalid'));
    } else {
      plan.delete.push(remove(record, 'declaration-removed'));
    }
  }
  return plan;
}

/** One line for a CLI or a log, e.g. `would create users:created,updated for contoso/conn-1 (tenant 84bd…)`. */
export function describeChange(change: PlannedChange | PlannedKeep | PlannedSkip, options: { dryRun: boolean }): string {
  const what = formatDeclaration(change);
  const where = `${change.integrationId}/${change.connectionId} (tenant ${change.tenantId})`;
  switch (change.action) {
    case 'create':
      return `${options.dryRun ? 'would create' : 'create'} ${what} for ${where}`;
    case 'delete':
      return `${options.dryRun ? 'would delete' : 'delete'} ${what} (subscription ${change.subscriptionId}) of ${where}: ${DELETE_REASONS[change.reason]}`;
    case 'keep': {
      const notes = [
        ...(change.status === 'active' ? [] : [`status ${change.status}${change.lastError === undefined ? '' : `: ${change.lastError}`}`]),
        ...(change.reason === undefined ? [] : [KEEP_REASONS[change.reason]]),
      ];
      return `keep ${what} (subscription ${change.subscriptionId}) of ${where}${notes.length > 0 ? `; ${notes.join('; ')}` : ''}`;
    }
    case 'skip': {
      const since = change.statusChangedAt === undefined ? '' : ` since ${change.statusChangedAt}`;
      const said = change.statusReason === undefined ? '' : ` (${change.statusReason})`;
      return (
        `${options.dryRun ? 'would skip' : 'skipped'} create ${what} for ${where}: the connection needs consent${since}${said}; ` +
        `once the tenant's admin grants it again: graph-relay connections resume ${change.integrationId} ${change.connectionId}`
      );
    }
  }
}

const DELETE_REASONS: Record<DeleteReason, string> = {
  'connection-removed': 'the connection no longer exists',
  'declaration-removed': 'the connection no longer declares it',
  'tenant-changed': 'the connection now belongs to another tenant',
};

const KEEP_REASONS: Record<KeepReason, string> = {
  'connection-unreadable': 'not declared, but the connection item is unreadable, so it is kept',
  'declarations-invalid': 'not declared, but the connection has invalid declarations, so it is kept',
};

function consentNotes(connection: Connection): Pick<PlannedSkip, 'statusReason' | 'statusChangedAt'> {
  return {
    ...(connection.statusReason === undefined ? {} : { statusReason: connection.statusReason }),
    ...(connection.statusChangedAt === undefined ? {} : { statusChangedAt: connection.statusChangedAt }),
  };
}

function sameTenant(record: SubscriptionRecord, connection: Connection): boolean {
  return record.tenantId.toLowerCase() === connection.tenantId.toLowerCase();
}

function keep(record: SubscriptionRecord, reason?: KeepReason): PlannedKeep {
  return {
    action: 'keep',
    ...ids(record),
    status: record.status,
    ...(record.lastError === undefined ? {} : { lastError: record.lastError }),
    ...(reason === undefined ? {} : { reason }),
  };
}

function remove(record: SubscriptionRecord, reason: DeleteReason): PlannedDelete {
  return { action: 'delete', ...ids(record), reason };
}

function ids(record: SubscriptionRecord) {
  const { integrationId, connectionId, tenantId, subscriptionId, resource, changeTypes } = record;
  return {
    integrationId,
    connectionId,
    tenantId,
    subscriptionId,
    resource,
    changeTypes: [...changeTypes],
    ...(record.includeResourceData === true ? { includeResourceData: true } : {}),
  };
}
