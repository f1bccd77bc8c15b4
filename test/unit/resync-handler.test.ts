/**
 * The resync function's SQS entry (functions/resync/handler.ts runResyncBatch): what each outcome of a run does to
 * its message (done, asked again on the queue, or left for SQS to redeliver), with a runtime whose ports drive the
 * real runResync to each outcome.
 */
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { runResyncBatch } from '../../functions/resync/handler';
import type { ResyncMetric, ResyncRuntime } from '../../functions/resync/runtime';
import { RESYNC_DEFAULTS } from '../../shared/config/resync-config';
import { GraphRequestError, GraphThrottledError, type GraphRequest } from '../../shared/graph/graph-client';
import type { ResyncJob } from '../../shared/resync/resync-job';
import type { ResyncResult } from '../../shared/resync/run-resync';
import type { ResyncKey, ResyncState, ResyncStateStore } from '../../shared/store/resync-checkpoints';
import type { SubscriptionRecord } from '../../shared/store/subscriptions-store';

const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const TENANT = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
const SUBSCRIPTION_ID = '7f105c7d-2dc5-4530-97cd-4e7ae6534c07';
/** A Lambda with five minutes left. */
const CONTEXT = { getRemainingTimeInMillis: () => 5 * 60_000 };

const RECORD: SubscriptionRecord = {
  integrationId: 'contoso',
  subscriptionId: SUBSCRIPTION_ID,
  connectionId: 'conn-1',
  tenantId: TENANT,
  resource: 'users',
  changeTypes: ['updated', 'deleted'],
  expiresAt: '2026-03-20T00:00:00.000Z',
  status: 'active',
  createdAt: '2026-02-01T00:00:00.000Z',
  updatedAt: '2026-02-01T00:00:00.000Z',
};

const DELTA_PAGE = { value: [], '@odata.deltaLink': 'https://graph.microsoft.com/v1.0/users/delta?$deltatoken=abc' };

function job(overrides: Partial<ResyncJob> = {}): ResyncJob {
  return { integrationId: 'contoso', subscriptionId: SUBSCRIPTION_ID, trigger: 'created', requestedAt: new Date(NOW - 1_000).toISOString(), ...overrides };
}

function sqsEvent(...bodies: string[]): SQSEvent {
  const records = bodies.map(
    (body, i): SQSRecord => ({
      messageId: `message-${i + 1}`,
      receiptHandle: `receipt-${i + 1}`,
      body,
      attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(NOW), SenderId: 'sender', ApproximateFirstReceiveTimestamp: String(NOW) },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:resync',
      awsRegion: 'eu-west-1',
    }),
  );
  return { Records: records };
}

function graphError(status: number, code: string): GraphRequestError {
  return new GraphRequestError({ method: 'GET', path: '/users/delta', tenantId: TENANT, status, code, message: `Graph said ${status}`, requestId: 'req-1', clientRequestId: 'client-req-1' });
}

/** One declaration's state; `busy` has another run hold its lease. */
class MemoryStates implements ResyncStateStore {
  state: ResyncState | undefined;
  constructor(private readonly busy: boolean) {}
  async get() {
    return this.state;
  }
  async acquire(key: ResyncKey, seed: { subscriptionId: string; tenantId: string; resource: string }, lease: { owner: string; until: Date }) {
    if (this.busy) return undefined;
    this.state ??= { ...key, ...seed, updatedAt: new Date(NOW).toISOString() };
    this.state = { ...this.state, leaseOwner: lease.owner, leaseUntil: lease.until.toISOString() };
    return this.state;
  }
  async save(_key: ResyncKey, _lease: { owner: string; until: Date }, changes: { run?: ResyncState['run'] | null; deltaLink?: string }) {
    const { run, ...rest } = changes;
    const { run: _previous, ...state } = this.state as ResyncState;
    this.state = { ...state, ...rest, ...(run === null || run === undefined ? {} : { run }) };
  }
  async release() {}
  async list() {
    return { states: this.state === undefined ? [] : [this.state], invalid: [] };
  }
  async delete() {
    this.state = undefined;
  }
}

/**
 * A runtime over stub ports: the subscription recorded and declared `;resync`, Graph answering each delta request
 * with `answer` (a page, or an error thrown), its own queue recorded (or refusing).
 */
function runtime(options: { answer?: unknown; busy?: boolean; requestFails?: boolean } = {}) {
  const requested: { jobs: ResyncJob[]; delaySeconds: number | undefined }[] = [];
  const counted: { metric: ResyncMetric; value: number }[] = [];
  const results: ResyncResult[] = [];
  const graphCalls: GraphRequest[] = [];
  const logs: { level: 'info' | 'warn' | 'error'; message: string }[] = [];
  let flushes = 0;
  const answer = 'answer' in options ? options.answer : DELTA_PAGE;
  const r: ResyncRuntime = {
    ports: {
      subscriptions: { get: async (_integrationId, id) => (id === SUBSCRIPTION_ID ? RECORD : undefined) },
      connections: {
        getConnection: async () => ({ integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT, subscriptions: ['users:updated,deleted;resync'], status: 'active', createdAt: '2026-02-01T00:00:00.000Z', updatedAt: '2026-02-01T00:00:00.000Z' }),
        getIntegration: async () => ({ integrationId: 'contoso', provider: 'microsoft-oauth2-cc', configVersion: 0, routesVersion: 0, createdAt: '2026-02-01T00:00:00.000Z', updatedAt: '2026-02-01T00:00:00.000Z' }),
      },
      states: new MemoryStates(options.busy === true),
      graphFor: async () => ({
        async request(input: GraphRequest) {
          graphCalls.push(input);
          if (answer instanceof Error) throw answer;
          return answer;
        },
        stats: () => ({ requests: {}, tokenRequests: 0 }),
      }),
      publisher: { publish: async (events) => ({ calls: 1, published: events.length }), sizeOf: () => 1_000 },
      summaries: { publish: async () => undefined },
      eventSource: 'graph-relay.test',
      logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
      clock: { now: () => NOW },
    },
    requests: {
      async request(jobs, requestOptions) {
        requested.push({ jobs: [...jobs], delaySeconds: requestOptions?.delaySeconds });
        if (options.requestFails) throw new Error('AWS.SimpleQueueService.NonExistentQueue');
      },
    },
    logger: {
      info: (message: string) => void logs.push({ level: 'info', message }),
      warn: (message: string) => void logs.push({ level: 'warn', message }),
      error: (message: string) => void logs.push({ level: 'error', message }),
    },
    metrics: {
      count: (metric, value = 1) => void counted.push({ metric, value }),
      record: (result) => void results.push(result),
      flush: () => void (flushes += 1),
    },
  };
  return { runtime: r, requested, counted, results, graphCalls, logs, flushes: () => flushes };
}

describe('runResyncBatch', () => {
  it('completes a run: the message is done, nothing asked again', async () => {
    // Prepare
    const w = runtime();

    // Act
    const response = await runResyncBatch(w.runtime, sqsEvent(JSON.stringify(job())), CONTEXT);

    // Assert
    expect(response).toEqual({ batchItemFailures: [] });
    expect(w.results).toEqual([expect.objectContaining({ outcome: 'completed', mode: 'baseline' })]);
    expect(w.graphCalls).toHaveLength(1);
    expect(w.requested).toEqual([]);
    expect(w.flushes()).toBe(1);
  });

  it('asks for one continued job when the run stopped at its deadline', async () => {
    // Prepare: an invocation with less time left than the margin: no page is started
    const w = runtime();

    // Act
    const response = await runResyncBatch(w.runtime, sqsEvent(JSON.stringify(job({ trigger: 'missed' }))), { getRemainingTimeInMillis: () => RESYNC_DEFAULTS.deadlineMarginMs });

    // Assert
    expect(response).toEqual({ batchItemFailures: [] });
    expect(w.results).toEqual([expect.objectContaining({ outcome: 'continued', pages: 0 })]);
    expect(w.graphCalls).toEqual([]);
    expect(w.requested).toEqual([
      { jobs: [{ integrationId: 'contoso', subscriptionId: SUBSCRIPTION_ID, trigger: 'continued', requestedAt: new Date(NOW).toISOString() }], delaySeconds: undefined },
    ]);
  });

  it('asks again after Graph\'s Retry-After when the run was throttled', async () => {
    // Prepare: Retry-After 42.5 s, past what the Graph client may wait
    const throttled = new GraphThrottledError({ method: 'GET', path: '/users/delta', tenantId: TENANT, status: 429, code: 'TooManyRequests', message: 'Please retry again later.', requestId: 'req-2', clientRequestId: 'client-req-2' }, 42_500);
    const w = runtime({ answer: throttled });

    // Act
    const response = await runResyncBatch(w.runtime, sqsEvent(JSON.stringify(job())), CONTEXT);

    // Assert
    expect(response).toEqual({ batchItemFailures: [] });
    expect(w.results).toEqual([expect.objectContaining({ outcome: 'throttled', retryAfterMs: 42_500 })]);
    expect(w.requested).toHaveLength(1);
    expect(w.requested[0]?.jobs).toEqual([expect.objectContaining({ subscriptionId: SUBSCRIPTION_ID, trigger: 'continued' })]);
    expect(w.requested[0]?.delaySeconds).toBeGreaterThanOrEqual(42.5);
  });

  it('asks the same job again later when another run holds the declaration', async () => {
    // Prepare
    const w = runtime({ busy: true });

    // Act
    const response = await runResyncBatch(w.runtime, sqsEvent(JSON.stringify(job({ trigger: 'missed', full: true }))), CONTEXT);

    // Assert
    expect(response).toEqual({ batchItemFailures: [] });
    expect(w.results).toEqual([{ outcome: 'busy' }]);
    expect(w.graphCalls).toEqual([]);
    expect(w.requested).toEqual([{ jobs: [job({ trigger: 'missed', full: true, requestedAt: new Date(NOW).toISOString() })], delaySeconds: RESYNC_DEFAULTS.busyRetrySeconds }]);
    expect(RESYNC_DEFAULTS.busyRetrySeconds).toBeGreaterThan(0);
  });

  it('leaves a run that failed for a transient reason to SQS, and drops one that would fail the same way again', async () => {
    // Prepare
    const transient = runtime({ answer: graphError(503, 'serviceNotAvailable') });
    const lasting = runtime({ answer: graphError(403, 'Authorization_RequestDenied') });

    // Act
    const retried = await runResyncBatch(transient.runtime, sqsEvent(JSON.stringify(job())), CONTEXT);
    const dropped = await runResyncBatch(lasting.runtime, sqsEvent(JSON.stringify(job())), CONTEXT);

    // Assert
    expect(transient.results).toEqual([expect.objectContaining({ outcome: 'failed', retry: true })]);
    expect(retried).toEqual({ batchItemFailures: [{ itemIdentifier: 'message-1' }] });
    expect(lasting.results).toEqual([expect.objectContaining({ outcome: 'failed', retry: false })]);
    expect(dropped).toEqual({ batchItemFailures: [] });
    expect([...transient.requested, ...lasting.requested]).toEqual([]);
  });

  it('drops a message that is not a job, counts it and logs it, and runs the rest of the batch', async () => {
    // Prepare
    const w = runtime();

    // Act
    const response = await runResyncBatch(w.runtime, sqsEvent('{not json', JSON.stringify({ ...job(), trigger: 'whenever' }), JSON.stringify(job())), CONTEXT);

    // Assert
    expect(response).toEqual({ batchItemFailures: [] });
    expect(w.counted).toEqual([
      { metric: 'Invalid', value: 1 },
      { metric: 'Invalid', value: 1 },
    ]);
    expect(w.logs.filter((l) => l.level === 'error').map((l) => l.message)).toEqual([expect.stringContaining('dropped'), expect.stringContaining('dropped')]);
    expect(w.results).toEqual([expect.objectContaining({ outcome: 'completed' })]);
    expect(w.flushes()).toBe(1);
  });

  it('reports a run that threw, and a continuation that could not be queued, as batch item failures', async () => {
    // Prepare
    const threw = runtime({ answer: new TypeError('fetch failed') });
    const unqueued = runtime({ requestFails: true });

    // Act
    const thrown = await runResyncBatch(threw.runtime, sqsEvent(JSON.stringify(job()), JSON.stringify(job({ subscriptionId: 'not-recorded' }))), CONTEXT);
    const notQueued = await runResyncBatch(unqueued.runtime, sqsEvent(JSON.stringify(job({ trigger: 'missed' }))), { getRemainingTimeInMillis: () => 0 });

    // Assert: the second message of the first batch (skipped: no such subscription) is done
    expect(thrown).toEqual({ batchItemFailures: [{ itemIdentifier: 'message-1' }] });
    expect(threw.counted).toEqual([{ metric: 'Failed', value: 1 }]);
    expect(threw.results).toEqual([expect.objectContaining({ outcome: 'skipped', reason: 'subscription-gone' })]);
    expect(threw.flushes()).toBe(1);
    expect(notQueued).toEqual({ batchItemFailures: [{ itemIdentifier: 'message-1' }] });
    expect(unqueued.requested).toHaveLength(1);
  });
});
