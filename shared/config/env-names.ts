/**
 * Environment variable names shared by the functions, the CDK stack that sets them and the local stack.
 * Environment holds names and ARNs only, never secret values.
 */
export const ENV = {
  connectionsTable: 'CONNECTIONS_TABLE_NAME',
  deliveriesTable: 'DELIVERIES_TABLE_NAME',
  eventBus: 'EVENT_BUS_NAME',
  eventSource: 'EVENT_SOURCE',
  webhookSecretPrefix: 'WEBHOOK_SECRET_PREFIX',
  secretMaxAgeSeconds: 'SECRET_MAX_AGE_SECONDS',
  routeCacheMaxEntries: 'ROUTE_CACHE_MAX_ENTRIES',
  routeCacheMaxAgeSeconds: 'ROUTE_CACHE_MAX_AGE_SECONDS',
  routeCacheNegativeMaxAgeSeconds: 'ROUTE_CACHE_NEGATIVE_MAX_AGE_SECONDS',
  registryRefreshSeconds: 'REGISTRY_REFRESH_SECONDS',
  registryMinRefreshSeconds: 'REGISTRY_MIN_REFRESH_SECONDS',
  redeliveryWindowSeconds: 'REDELIVERY_WINDOW_SECONDS',
  /** Base of every notificationUrl: `<WEBHOOK_BASE_URL><integrationId>`, e.g. `https://…/webhook/`. */
  webhookBaseUrl: 'WEBHOOK_BASE_URL',
  /** At most this many due subscriptions per renewal run. */
  renewalRunLimit: 'RENEWAL_RUN_LIMIT',
  /** URL of the resync queue: lifecycle, renewal and the reconciler ask for catch-ups there. Unset: none asked. */
  resyncQueueUrl: 'RESYNC_QUEUE_URL',
  /** The resync safety net: hours between catch-ups of every `;resync` declaration; 0 turns it off. */
  resyncEveryHours: 'RESYNC_EVERY_HOURS',
  /**
   * `on` in a multi-region stage: renewal, reconcile, lifecycle handling and resync act only while this region holds
   * the Graph writer lease (shared/leadership/). Unset or `off`: one region, always the writer.
   */
  writerLease: 'WRITER_LEASE',
  /** This deployment's region name as the lease and events record it; default AWS_REGION. */
  relayRegion: 'RELAY_REGION',
  /**
   * The table holding the writer lease; default the connections table. In a multi-region stage a small global table
   * with multi-Region strong consistency: the connections table's replication is eventually consistent, and its
   * conditional writes are evaluated in the local replica only, so a partitioned region could renew its own copy.
   */
  writerLeaseTable: 'WRITER_LEASE_TABLE_NAME',
  /** Seconds a writer lease lasts after its holder's last heartbeat. */
  writerLeaseTtlSeconds: 'WRITER_LEASE_TTL_SECONDS',
  /**
   * Seconds past a lease's expiry before another region may take it: room for global-table replication lag and
   * clock skew, so an old holder has stopped before a new one starts.
   */
  writerLeaseGraceSeconds: 'WRITER_LEASE_GRACE_SECONDS',
  /** Function names the lease heartbeat invokes when this region takes the lease over (a catch-up run each). */
  renewalFunctionName: 'RENEWAL_FUNCTION_NAME',
  reconcileFunctionName: 'RECONCILE_FUNCTION_NAME',
  /** The lifecycle function, which the writer's heartbeat hands lifecycle events recorded by another region to. */
  lifecycleFunctionName: 'LIFECYCLE_FUNCTION_NAME',
  /** Seconds the intake's deep health answer (table, secret, bus) is reused before the checks run again. */
  healthCacheSeconds: 'HEALTH_CACHE_SECONDS',
} as const;

export type EnvName = (typeof ENV)[keyof typeof ENV];

/** Environment variables naming Graph's endpoints; tests and the local stack point them at a fake. */
export const GRAPH_ENV = {
  apiUrl: 'GRAPH_API_URL',
  loginUrl: 'GRAPH_LOGIN_URL',
} as const;

/**
 * Bucket for the full detail of events too large for EventBridge (their event carries `payloadRef`). Optional:
 * without it such notifications are refused, as they were before the bucket existed.
 */
export const PAYLOAD_BUCKET_ENV = 'PAYLOAD_BUCKET';
