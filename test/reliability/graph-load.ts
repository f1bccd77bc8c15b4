/**
 * A Graph-like sender over autocannon, closed-loop: a fixed number of connections, each sending its next webhook
 * body as soon as the previous one is answered. Like Graph, it retries every body answered non-2xx (or not answered
 * at all: connection error, timeout) with exponential backoff, until it is accepted or its attempts are spent.
 *
 * It works in rounds: a round is one autocannon run that sends each body of its batch exactly once (`amount` = the
 * batch size; `setupRequest` takes the next body from the batch, `onResponse` records its status). The batch of a
 * round is every failed body whose backoff has elapsed plus the fresh bodies the source offers now; bodies that fail
 * are scheduled again at `now + backoff(failures)`. The sender stops when the source is exhausted and nothing is
 * pending; a body whose attempts are spent is abandoned (the phases count it as lost).
 */
import autocannon from 'autocannon';
import type { WebhookBody } from './workload';

export interface RetryPolicy {
  /** First retry after about this long; doubled on each failure of the body… */
  baseMs: number;
  /** …up to this (Graph's 4 hours of retries, compressed). */
  capMs: number;
  /** Attempts per body, the first included. */
  maxAttempts: number;
}

/** The backoff before the retry that follows the `failures`-th failure of a body: exponential with equal jitter. */
export function backoffMs(policy: RetryPolicy, failures: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, failures - 1));
  return ceiling / 2 + random() * (ceiling / 2);
}

/** One body and how its attempts went. */
export interface Delivery {
  id: number;
  body: WebhookBody;
  attempts: number;
  failures: number;
  /** When the next attempt may be sent. */
  dueAt: number;
  state: 'pending' | 'accepted' | 'abandoned';
  /** Status of each attempt, in order (0: no answer). */
  statuses: number[];
}

/** One attempt: when it was sent and answered, and how. */
export interface Attempt {
  deliveryId: number;
  attempt: number;
  sentAt: number;
  answeredAt: number;
  /** 0 when no answer came (connection error or timeout; answeredAt is then the end of its round). */
  status: number;
  /** For a 2xx: notifications the intake reported as redeliveries already published (suppressed). */
  suppressed: number;
}

export interface GraphLoadOptions {
  url: string;
  connections: number;
  retry: RetryPolicy;
  /** Seconds autocannon waits for an answer; long, so that a retry never overlaps the attempt it repeats. */
  timeoutSeconds?: number;
  /**
   * The next fresh bodies to send now ([] for none yet), or undefined once the source is exhausted. `retries` is
   * how many failed bodies are due in the same round.
   */
  fresh(retries: number): WebhookBody[] | undefined;
  log(line: string): void;
}

export interface GraphLoadResult {
  deliveries: Delivery[];
  attempts: Attempt[];
  rounds: autocannon.Result[];
  /** Requests sent without a body to send (autocannon asked for more than the batch): always 0 unless autocannon changed. */
  fillers: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const isAccepted = (status: number) => status >= 200 && status < 300;

export async function runGraphLoad(options: GraphLoadOptions): Promise<GraphLoadResult> {
  const deliveries: Delivery[] = [];
  const attempts: Attempt[] = [];
  const rounds: autocannon.Result[] = [];
  let pending: Delivery[] = [];
  let exhausted = false;
  let fillers = 0;

  for (;;) {
    const now = Date.now();
    const due = pending.filter((d) => d.dueAt <= now);
    pending = pending.filter((d) => d.dueAt > now);
    const batch = [...due];
    if (!exhausted) {
      const fresh = options.fresh(due.length);
      if (fresh === undefined) exhausted = true;
      else for (const body of fresh) batch.push(track(deliveries, body));
    }
    if (batch.length === 0) {
      if (exhausted && pending.length === 0) break;
      const next = pending.length === 0 ? now + 50 : Math.min(...pending.map((d) => d.dueAt));
      await sleep(Math.min(250, Math.max(5, next - now)));
      continue;
    }
    const round = await runRound(options, batch, attempts);
    fillers += round.fillers;
    rounds.push(round.result);
    for (const delivery of batch) {
      const status = delivery.statuses.at(-1) ?? 0;
      if (isAccepted(status)) {
        delivery.state = 'accepted';
        continue;
      }
      delivery.failures += 1;
      if (delivery.attempts >= options.retry.maxAttempts) {
        delivery.state = 'abandoned';
        options.log(`graph-load: body ${delivery.id} abandoned after ${delivery.attempts} attempts (statuses ${delivery.statuses.join(',')})`);
        continue;
      }
      delivery.dueAt = Date.now() + backoffMs(options.retry, delivery.failures);
      pending.push(delivery);
    }
  }
  return { deliveries, attempts, rounds, fillers };
}

function track(deliveries: Delivery[], body: WebhookBody): Delivery {
  const delivery: Delivery = { id: deliveries.length, body, attempts: 0, failures: 0, dueAt: 0, state: 'pending', statuses: [] };
  deliveries.push(delivery);
  return delivery;
}

interface RoundContext {
  delivery?: Delivery;
  attempt?: Attempt;
}

/** One autocannon run sending each body of `batch` once; every body gets exactly one new status (0 if unanswered). */
async function runRound(
  options: GraphLoadOptions,
  batch: readonly Delivery[],
  attempts: Attempt[],
): Promise<{ result: autocannon.Result; fillers: number }> {
  const queue = [...batch];
  const open = new Map<Delivery, Attempt>();
  let fillers = 0;
  const headers = { 'content-type': 'application/json' };
  const result = await autocannon({
    url: options.url,
    connections: Math.min(options.connections, batch.length),
    amount: batch.length,
    timeout: options.timeoutSeconds ?? 60,
    requests: [
      {
        method: 'POST',
        setupRequest: (request, context) => {
          const ctx = context as RoundContext;
          const delivery = queue.shift();
          if (delivery === undefined) {
            // Never expected (amount = batch size); a harmless handshake keeps autocannon going if it happens.
            fillers += 1;
            ctx.delivery = undefined;
            return { ...request, method: 'POST', path: '/webhook/filler?validationToken=filler', headers, body: '' };
          }
          // A body whose previous attempt on a failed connection was never answered is sent anew here.
          delivery.attempts += 1;
          const attempt: Attempt = { deliveryId: delivery.id, attempt: delivery.attempts, sentAt: Date.now(), answeredAt: 0, status: 0, suppressed: 0 };
          open.set(delivery, attempt);
          ctx.delivery = delivery;
          ctx.attempt = attempt;
          return { ...request, method: 'POST', path: delivery.body.path, headers, body: delivery.body.body };
        },
        onResponse: (status, body, context) => {
          const { delivery, attempt } = context as RoundContext;
          if (delivery === undefined || attempt === undefined || !open.has(delivery)) return;
          open.delete(delivery);
          attempt.answeredAt = Date.now();
          attempt.status = status;
          if (isAccepted(status)) attempt.suppressed = suppressedIn(body);
          delivery.statuses.push(status);
          attempts.push(attempt);
        },
      },
    ],
  });
  // Sent but never answered (connection error, timeout): a failed attempt, like a Graph delivery that timed out.
  const end = Date.now();
  for (const [delivery, attempt] of open) {
    attempt.answeredAt = end;
    delivery.statuses.push(0);
    attempts.push(attempt);
  }
  // Not even sent (autocannon ended early): counted as a failed attempt too, so it is retried.
  for (const delivery of queue) {
    delivery.attempts += 1;
    delivery.statuses.push(0);
    attempts.push({ deliveryId: delivery.id, attempt: delivery.attempts, sentAt: end, answeredAt: end, status: 0, suppressed: 0 });
  }
  return { result, fillers };
}

function suppressedIn(body: string): number {
  try {
    const parsed = JSON.parse(body) as { duplicates?: unknown };
    return typeof parsed.duplicates === 'number' ? parsed.duplicates : 0;
  } catch {
    return 0;
  }
}

/**
 * Graph's redelivery compressed: Graph retries a failed delivery with backoff for up to 4 hours; here 100 ms
 * doubling to a 2 s cap, for up to 40 attempts (about a minute), longer than any outage the faults phase causes.
 */
export const GRAPH_RETRY: RetryPolicy = { baseMs: 100, capMs: 2000, maxAttempts: 40 };
