/**
 * Typed wrappers of Graph's subscription API (Microsoft Graph docs): create, renew, reauthorize, delete, get, list.
 * Every response is parsed; a response that does not match names the failing field.
 */
import * as z from 'zod';
import { describeIssues } from './change-notification';
import { GraphRequestError, InvalidGraphResponseError, type GraphClient } from './graph-client';
import { GRAPH_DEFAULTS } from './graph-config';

/** Graph returns null for unset properties; callers see them as absent. */
const optionalString = z
  .string()
  .nullish()
  .transform((v) => v ?? undefined);

const dateTime = z.string().refine((v) => !Number.isNaN(Date.parse(v)), 'expected an ISO 8601 date-time');

/** The subscription resource (api/resources/subscription), loose: Graph adds properties over time. */
export const graphSubscriptionSchema = z
  .object({
    id: z.string().min(1),
    resource: z.string().min(1),
    changeType: z.string().min(1),
    notificationUrl: z.string().min(1),
    expirationDateTime: dateTime,
    lifecycleNotificationUrl: optionalString,
    /** Not returned by list. */
    clientState: optionalString,
    applicationId: optionalString,
    creatorId: optionalString,
    includeResourceData: z
      .boolean()
      .nullish()
      .transform((v) => v ?? undefined),
    encryptionCertificate: optionalString,
    encryptionCertificateId: optionalString,
    latestSupportedTlsVersion: optionalString,
    notificationQueryOptions: optionalString,
    notificationUrlAppId: optionalString,
  })
  .loose();

export type GraphSubscription = z.infer<typeof graphSubscriptionSchema>;

const subscriptionPageSchema = z.object({
  value: z.array(graphSubscriptionSchema),
  '@odata.nextLink': optionalString,
});

export interface CreateSubscriptionInput {
  /** Comma-separated `created`, `updated`, `deleted`. */
  changeType: string;
  notificationUrl: string;
  lifecycleNotificationUrl?: string;
  /** Relative to the Graph root, e.g. `users/{id}/messages`. */
  resource: string;
  expirationDateTime: Date | string;
  clientState: string;
  includeResourceData?: boolean;
  /** Base64 DER X.509 certificate Graph encrypts resource data with. */
  encryptionCertificate?: string;
  encryptionCertificateId?: string;
  latestSupportedTlsVersion?: 'v1_0' | 'v1_1' | 'v1_2' | 'v1_3';
}

export interface CallOptions {
  /** Epoch ms: the caller's time budget (see GraphRequest.deadline). */
  deadline?: number;
  timeoutMs?: number;
}

/** A renewal that also rotates a rich subscription's encryption certificate (both or neither). */
export interface RenewOptions extends CallOptions {
  /** Base64 DER X.509 certificate Graph encrypts resource data with from now on. */
  encryptionCertificate?: string;
  encryptionCertificateId?: string;
}

export type DeleteOutcome = 'deleted' | 'already-gone';

/** Subscription calls for one app across tenants. */
export class SubscriptionsApi {
  constructor(private readonly graph: GraphClient) {}

  /** `POST /subscriptions` → 201. Graph validates the notification URL(s) before it answers. */
  async createSubscription(tenantId: string, input: CreateSubscriptionInput, options: CallOptions = {}): Promise<GraphSubscription> {
    const body = {
      changeType: input.changeType,
      notificationUrl: input.notificationUrl,
      resource: input.resource,
      expirationDateTime: isoDateTime(input.expirationDateTime),
      clientState: input.clientState,
      ...(input.lifecycleNotificationUrl === undefined ? {} : { lifecycleNotificationUrl: input.lifecycleNotificationUrl }),
      ...(input.includeResourceData === undefined ? {} : { includeResourceData: input.includeResourceData }),
      ...(input.encryptionCertificate === undefined ? {} : { encryptionCertificate: input.encryptionCertificate }),
      ...(input.encryptionCertificateId === undefined ? {} : { encryptionCertificateId: input.encryptionCertificateId }),
      ...(input.latestSupportedTlsVersion === undefined ? {} : { latestSupportedTlsVersion: input.latestSupportedTlsVersion }),
    };
    const response = await this.graph.request({
      method: 'POST',
      path: '/subscriptions',
      body,
      tenantId,
      timeoutMs: options.timeoutMs ?? GRAPH_DEFAULTS.createSubscriptionTimeoutMs,
      ...deadline(options),
    });
    return parse(graphSubscriptionSchema, response, 'subscription (POST /subscriptions)');
  }

  /**
   * `PATCH /subscriptions/{id}` with a new expiry → 200; also reauthorizes the subscription. With an encryption
   * certificate and its id, the rich subscription moves to that certificate (rotation).
   */
  async renewSubscription(tenantId: string, id: string, expirationDateTime: Date | string, options: RenewOptions = {}): Promise<GraphSubscription> {
    if ((options.encryptionCertificate === undefined) !== (options.encryptionCertificateId === undefined)) {
      throw new TypeError('encryptionCertificate and encryptionCertificateId are renewed together');
    }
    const response = await this.graph.request({
      method: 'PATCH',
      path: subscriptionPath(id),
      body: {
        expirationDateTime: isoDateTime(expirationDateTime),
        ...(options.encryptionCertificate === undefined ? {} : { encryptionCertificate: options.encryptionCertificate }),
        ...(options.encryptionCertificateId === undefined ? {} : { encryptionCertificateId: options.encryptionCertificateId }),
      },
      tenantId,
      ...callOptions(options),
    });
    return parse(graphSubscriptionSchema, response, 'subscription (PATCH /subscriptions/{id})');
  }

  /** `POST /subscriptions/{id}/reauthorize` → 204, after a `reauthorizationRequired` lifecycle event. */
  async reauthorizeSubscription(tenantId: string, id: string, options: CallOptions = {}): Promise<void> {
    // Repeating a reauthorization has the same effect as doing it once, so timeouts and 5xx may be retried.
    await this.graph.request({ method: 'POST', path: `${subscriptionPath(id)}/reauthorize`, tenantId, idempotent: true, ...callOptions(options) });
  }

  /** `DELETE /subscriptions/{id}` → 204; 404 means it is already gone (expired or removed), which is fine. */
  async deleteSubscription(tenantId: string, id: string, options: CallOptions = {}): Promise<DeleteOutcome> {
    try {
      await this.graph.request({ method: 'DELETE', path: subscriptionPath(id), tenantId, ...callOptions(options) });
      return 'deleted';
    } catch (error) {
      if (error instanceof GraphRequestError && error.status === 404) return 'already-gone';
      throw error;
    }
  }

  /**
   * `GET /subscriptions/{id}` → 200: the subscription as Graph has it now (its expiry, certificate). A subscription
   * Graph no longer has throws GraphRequestError 404, for the caller to decide.
   */
  async getSubscription(tenantId: string, id: string, options: CallOptions = {}): Promise<GraphSubscription> {
    const response = await this.graph.request({ method: 'GET', path: subscriptionPath(id), tenantId, ...callOptions(options) });
    return parse(graphSubscriptionSchema, response, 'subscription (GET /subscriptions/{id})');
  }

  /**
   * `GET /subscriptions`, every page: this app's subscriptions in the tenant (app-only). A nextLink is followed
   * only when it is on the configured Graph base, so the tenant's token never leaves for another host.
   */
  async listSubscriptions(tenantId: string, options: CallOptions = {}): Promise<GraphSubscription[]> {
    const subscriptions: GraphSubscription[] = [];
    let path: string | undefined = '/subscriptions';
    for (let page = 1; path !== undefined; page += 1) {
      if (page > GRAPH_DEFAULTS.maxListPages) {
        throw new InvalidGraphResponseError('subscription list (GET /subscriptions)', ['@odata.nextLink'], `more than ${GRAPH_DEFAULTS.maxListPages} pages; refusing to follow further`);
      }
      const response = await this.graph.request({ method: 'GET', path, tenantId, ...callOptions(options) });
      const parsed = parse(subscriptionPageSchema, response, `subscription list page ${page} (GET /subscriptions)`);
      subscriptions.push(...parsed.value);
      path = parsed['@odata.nextLink'];
    }
    return subscriptions;
  }
}

function subscriptionPath(id: string): string {
  if (id.trim() === '') throw new TypeError('subscription id must not be empty');
  return `/subscriptions/${encodeURIComponent(id)}`;
}

function isoDateTime(value: Date | string): string {
  const time = value instanceof Date ? value.getTime() : Date.parse(value);
  if (Number.isNaN(time)) throw new TypeError('expirationDateTime must be a valid date-time');
  return new Date(time).toISOString();
}

function deadline(options: CallOptions): { deadline?: number } {
  return options.deadline === undefined ? {} : { deadline: options.deadline };
}

function callOptions(options: CallOptions): { deadline?: number; timeoutMs?: number } {
  return { ...deadline(options), ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }) };
}

function parse<T extends z.ZodType>(schema: T, response: unknown, what: string): z.output<T> {
  const parsed = schema.safeParse(response);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((issue) => (issue.path.length > 0 ? issue.path.join('.') : '(body)'));
    throw new InvalidGraphResponseError(what, fields, describeIssues(parsed.error));
  }
  return parsed.data;
}
