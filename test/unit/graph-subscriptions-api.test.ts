/**
 * SubscriptionsApi over the real GraphClient and TokenClient, against a fake Graph behind the fetch port:
 * request shapes, response parsing, delete of a gone subscription, paging and nextLink safety.
 */
import { GraphClient, GraphRequestError, GraphUrlError, InvalidGraphResponseError } from '../../shared/graph/graph-client';
import { GRAPH_DEFAULTS, type Clock, type FetchFn } from '../../shared/graph/graph-config';
import { SubscriptionsApi } from '../../shared/graph/subscriptions-api';
import { TokenClient } from '../../shared/graph/token-client';

const GRAPH_URL = 'http://127.0.0.1:4010';
const LOGIN_URL = 'http://127.0.0.1:4011';
const TENANT = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
const APP_ID = '3f6a1c2e-0d4b-4a7e-9b1a-5c2d7e8f9a01';
const SUBSCRIPTION_ID = '7f105c7d-2dc5-4530-97cd-4e7ae6534c07';
const CLIENT_STATE = 'current-secret-0123456789';

interface GraphCall {
  method: string;
  url: string;
  headers: Headers;
  body: unknown;
}

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const noContent = () => new Response(null, { status: 204 });
const graphError = (status: number, code: string, message: string) =>
  json(status, { error: { code, message, innerError: { 'request-id': 'req-1', date: '2024-05-01T12:00:00' } } });

/** A subscription as Graph returns it: unset properties are null. */
function subscription(overrides: Record<string, unknown> = {}) {
  return {
    '@odata.context': `${GRAPH_URL}/v1.0/$metadata#subscriptions/$entity`,
    id: SUBSCRIPTION_ID,
    resource: 'users/u1/messages',
    applicationId: APP_ID,
    changeType: 'created,updated',
    clientState: CLIENT_STATE,
    notificationUrl: 'https://relay.example/webhook/prod/contoso',
    notificationQueryOptions: null,
    lifecycleNotificationUrl: 'https://relay.example/webhook/prod/contoso',
    expirationDateTime: '2024-05-08T11:00:00Z',
    creatorId: '8ee44408-0679-472c-bc2a-692812af3437',
    includeResourceData: null,
    latestSupportedTlsVersion: 'v1_2',
    encryptionCertificate: null,
    encryptionCertificateId: null,
    notificationUrlAppId: null,
    ...overrides,
  };
}

function fakeGraph(answer: (call: GraphCall, index: number) => Response | Promise<Response>) {
  const calls: GraphCall[] = [];
  const fetch: FetchFn = async (url, init) => {
    if (url.startsWith(`${LOGIN_URL}/`)) return json(200, { token_type: 'Bearer', expires_in: 3599, access_token: 'tenant-token' });
    const call = { method: init.method ?? 'GET', url, headers: new Headers(init.headers), body: typeof init.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined };
    calls.push(call);
    return answer(call, calls.length - 1);
  };
  return { fetch, calls };
}

const instantClock: Clock = { now: () => Date.UTC(2024, 4, 1, 12), sleep: async () => undefined };

function subscriptionsApi(fetch: FetchFn) {
  const tokens = new TokenClient({ credentials: { clientId: APP_ID, clientSecret: 'test-client-secret-value~0123456789' }, config: { loginUrl: LOGIN_URL, scope: `${GRAPH_URL}/.default` }, fetch, clock: instantClock });
  return new SubscriptionsApi(new GraphClient({ config: { apiUrl: GRAPH_URL }, tokens, fetch, clock: instantClock }));
}

async function rejection<T extends Error>(promise: Promise<unknown>, type: new (...args: never[]) => T): Promise<T> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof type) return error;
    throw error;
  }
  throw new Error(`expected ${type.name}`);
}

describe('createSubscription', () => {
  it('posts the subscription and returns it parsed, nulls as absent', async () => {
    // Prepare
    const graph = fakeGraph(() => json(201, subscription()));
    const api = subscriptionsApi(graph.fetch);

    // Act
    const created = await api.createSubscription(TENANT, {
      changeType: 'created,updated',
      notificationUrl: 'https://relay.example/webhook/prod/contoso',
      lifecycleNotificationUrl: 'https://relay.example/webhook/prod/contoso',
      resource: 'users/u1/messages',
      expirationDateTime: new Date(Date.UTC(2024, 4, 8, 11)),
      clientState: CLIENT_STATE,
      latestSupportedTlsVersion: 'v1_2',
    });

    // Assess
    expect(graph.calls).toHaveLength(1);
    expect(graph.calls[0]).toMatchObject({ method: 'POST', url: `${GRAPH_URL}/v1.0/subscriptions` });
    expect(graph.calls[0]!.body).toEqual({
      changeType: 'created,updated',
      notificationUrl: 'https://relay.example/webhook/prod/contoso',
      lifecycleNotificationUrl: 'https://relay.example/webhook/prod/contoso',
      resource: 'users/u1/messages',
      expirationDateTime: '2024-05-08T11:00:00.000Z',
      clientState: CLIENT_STATE,
      latestSupportedTlsVersion: 'v1_2',
    });
    expect(created).toMatchObject({ id: SUBSCRIPTION_ID, expirationDateTime: '2024-05-08T11:00:00Z', clientState: CLIENT_STATE, applicationId: APP_ID });
    expect(created.includeResourceData).toBeUndefined();
    expect(created.encryptionCertificateId).toBeUndefined();
  });

  it('sends the rich-notification fields when given', async () => {
    // Prepare
    const graph = fakeGraph(() => json(201, subscription({ includeResourceData: true, encryptionCertificateId: 'cert-2024' })));
    const api = subscriptionsApi(graph.fetch);

    // Act
    const created = await api.createSubscription(TENANT, {
      changeType: 'created',
      notificationUrl: 'https://relay.example/webhook/prod/contoso',
      resource: 'teams/t1/channels/c1/messages',
      expirationDateTime: '2024-05-01T12:59:00Z',
      clientState: CLIENT_STATE,
      includeResourceData: true,
      encryptionCertificate: 'MIIBase64Der==',
      encryptionCertificateId: 'cert-2024',
    });

    // Assess
    expect(graph.calls[0]!.body).toMatchObject({ includeResourceData: true, encryptionCertificate: 'MIIBase64Der==', encryptionCertificateId: 'cert-2024' });
    expect(graph.calls[0]!.body).not.toHaveProperty('lifecycleNotificationUrl');
    expect(created.includeResourceData).toBe(true);
  });

  it('names the missing field when Graph answers with something that is not a subscription', async () => {
    // Prepare
    const { expirationDateTime: _omitted, ...withoutExpiry } = subscription();
    const graph = fakeGraph(() => json(201, withoutExpiry));
    const api = subscriptionsApi(graph.fetch);

    // Act
    const error = await rejection(
      api.createSubscription(TENANT, { changeType: 'created', notificationUrl: 'https://relay.example/w', resource: 'users', expirationDateTime: '2024-05-08T11:00:00Z', clientState: CLIENT_STATE }),
      InvalidGraphResponseError,
    );

    // Assess
    expect(error.fields).toEqual(['expirationDateTime']);
    expect(error.message).toContain('expirationDateTime');
    expect(error.message).not.toContain(CLIENT_STATE);
  });

  it('surfaces 409 (same resource and changeType) as a typed error without retrying', async () => {
    // Prepare
    const graph = fakeGraph(() => graphError(409, 'ExtensionError', 'A subscription for this resource and changeType already exists.'));
    const api = subscriptionsApi(graph.fetch);

    // Act
    const error = await rejection(
      api.createSubscription(TENANT, { changeType: 'created', notificationUrl: 'https://relay.example/w', resource: 'users', expirationDateTime: '2024-05-08T11:00:00Z', clientState: CLIENT_STATE }),
      GraphRequestError,
    );

    // Assess
    expect(error).toMatchObject({ status: 409, code: 'ExtensionError', requestId: 'req-1' });
    expect(graph.calls).toHaveLength(1);
  });

  it('refuses an expirationDateTime that is not a date, before calling Graph', async () => {
    // Prepare
    const graph = fakeGraph(() => json(201, subscription()));
    const api = subscriptionsApi(graph.fetch);

    // Act
    const error = await rejection(
      api.createSubscription(TENANT, { changeType: 'created', notificationUrl: 'https://relay.example/w', resource: 'users', expirationDateTime: 'next week', clientState: CLIENT_STATE }),
      TypeError,
    );

    // Assess
    expect(error.message).toContain('expirationDateTime');
    expect(graph.calls).toHaveLength(0);
  });
});

describe('renewSubscription', () => {
  it('patches only the expiry and returns the renewed subscription', async () => {
    // Prepare
    const graph = fakeGraph(() => json(200, subscription({ expirationDateTime: '2024-05-10T11:00:00Z', clientState: null })));
    const api = subscriptionsApi(graph.fetch);

    // Act
    const renewed = await api.renewSubscription(TENANT, SUBSCRIPTION_ID, '2024-05-10T11:00:00Z');

    // Assess
    expect(graph.calls[0]).toMatchObject({ method: 'PATCH', url: `${GRAPH_URL}/v1.0/subscriptions/${SUBSCRIPTION_ID}`, body: { expirationDateTime: '2024-05-10T11:00:00.000Z' } });
    expect(renewed.expirationDateTime).toBe('2024-05-10T11:00:00Z');
    expect(renewed.clientState).toBeUndefined();
  });

  it('carries a new encryption certificate and its id when a rich subscription is rotated', async () => {
    // Prepare
    const graph = fakeGraph(() => json(200, subscription({ includeResourceData: true, encryptionCertificateId: 'enc-2' })));
    const api = subscriptionsApi(graph.fetch);

    // Act
    const renewed = await api.renewSubscription(TENANT, SUBSCRIPTION_ID, '2024-05-10T11:00:00Z', { encryptionCertificate: 'MIIC-der', encryptionCertificateId: 'enc-2' });

    // Assess
    expect(graph.calls[0]?.body).toEqual({ expirationDateTime: '2024-05-10T11:00:00.000Z', encryptionCertificate: 'MIIC-der', encryptionCertificateId: 'enc-2' });
    expect(renewed.encryptionCertificateId).toBe('enc-2');
  });

  it('refuses a certificate without its id before any call', async () => {
    // Prepare
    const graph = fakeGraph(() => json(200, subscription()));
    const api = subscriptionsApi(graph.fetch);

    // Act
    const error = await rejection(api.renewSubscription(TENANT, SUBSCRIPTION_ID, '2024-05-10T11:00:00Z', { encryptionCertificate: 'MIIC-der' }), TypeError);

    // Assess
    expect(error.message).toMatch(/renewed together/);
    expect(graph.calls).toEqual([]);
  });

  it('reports 404 (expired or removed subscription) as a typed error', async () => {
    // Prepare
    const graph = fakeGraph(() => graphError(404, 'ResourceNotFound', 'The object was not found.'));
    const api = subscriptionsApi(graph.fetch);

    // Act
    const error = await rejection(api.renewSubscription(TENANT, SUBSCRIPTION_ID, new Date(Date.UTC(2024, 4, 10))), GraphRequestError);

    // Assess
    expect(error).toMatchObject({ status: 404, code: 'ResourceNotFound' });
  });

  it('encodes the subscription id in the path', async () => {
    // Prepare
    const graph = fakeGraph(() => json(200, subscription()));
    const api = subscriptionsApi(graph.fetch);

    // Act
    await api.renewSubscription(TENANT, 'a/b?c', '2024-05-10T11:00:00Z');

    // Assess
    expect(graph.calls[0]!.url).toBe(`${GRAPH_URL}/v1.0/subscriptions/a%2Fb%3Fc`);
  });
});

describe('getSubscription', () => {
  it('reads one subscription with a GET and parses it', async () => {
    // Prepare
    const graph = fakeGraph(() => json(200, subscription({ expirationDateTime: '2024-05-10T11:00:00Z', includeResourceData: true, encryptionCertificateId: 'enc-2' })));
    const api = subscriptionsApi(graph.fetch);

    // Act
    const current = await api.getSubscription(TENANT, SUBSCRIPTION_ID);

    // Assess
    expect(graph.calls).toEqual([expect.objectContaining({ method: 'GET', url: `${GRAPH_URL}/v1.0/subscriptions/${SUBSCRIPTION_ID}`, body: undefined })]);
    expect(current).toMatchObject({ id: SUBSCRIPTION_ID, expirationDateTime: '2024-05-10T11:00:00Z', encryptionCertificateId: 'enc-2' });
  });

  it('reports a subscription Graph no longer has as a 404 GraphRequestError', async () => {
    // Prepare
    const graph = fakeGraph(() => graphError(404, 'ResourceNotFound', 'The object was not found.'));
    const api = subscriptionsApi(graph.fetch);

    // Act
    const error = await rejection(api.getSubscription(TENANT, SUBSCRIPTION_ID), GraphRequestError);

    // Assess
    expect(error).toMatchObject({ method: 'GET', status: 404, code: 'ResourceNotFound' });
    expect(graph.calls).toHaveLength(1);
  });

  it('names the field of a subscription that does not parse', async () => {
    // Prepare
    const graph = fakeGraph(() => json(200, subscription({ expirationDateTime: 'soon' })));
    const api = subscriptionsApi(graph.fetch);

    // Act
    const error = await rejection(api.getSubscription(TENANT, SUBSCRIPTION_ID), InvalidGraphResponseError);

    // Assess
    expect(error.fields).toEqual(['expirationDateTime']);
    expect(error.message).toMatch(/GET \/subscriptions\/\{id\}/);
  });
});

describe('reauthorizeSubscription', () => {
  it('posts to /reauthorize and resolves on 204', async () => {
    // Prepare
    const graph = fakeGraph(() => noContent());
    const api = subscriptionsApi(graph.fetch);

    // Act
    const result = await api.reauthorizeSubscription(TENANT, SUBSCRIPTION_ID);

    // Assess
    expect(result).toBeUndefined();
    expect(graph.calls[0]).toMatchObject({ method: 'POST', url: `${GRAPH_URL}/v1.0/subscriptions/${SUBSCRIPTION_ID}/reauthorize`, body: undefined });
  });

  it('is retried after a 5xx, being safe to repeat', async () => {
    // Prepare
    const graph = fakeGraph((_call, index) => (index === 0 ? graphError(503, 'serviceNotAvailable', 'Busy.') : noContent()));
    const api = subscriptionsApi(graph.fetch);

    // Act
    await api.reauthorizeSubscription(TENANT, SUBSCRIPTION_ID);

    // Assess
    expect(graph.calls).toHaveLength(2);
  });
});

describe('deleteSubscription', () => {
  it('reports "deleted" on 204', async () => {
    // Prepare
    const graph = fakeGraph(() => noContent());
    const api = subscriptionsApi(graph.fetch);

    // Act
    const outcome = await api.deleteSubscription(TENANT, SUBSCRIPTION_ID);

    // Assess
    expect(outcome).toBe('deleted');
    expect(graph.calls[0]).toMatchObject({ method: 'DELETE', url: `${GRAPH_URL}/v1.0/subscriptions/${SUBSCRIPTION_ID}` });
  });

  it('reports "already-gone" on 404', async () => {
    // Prepare
    const graph = fakeGraph(() => graphError(404, 'ResourceNotFound', 'The object was not found.'));
    const api = subscriptionsApi(graph.fetch);

    // Act
    const outcome = await api.deleteSubscription(TENANT, SUBSCRIPTION_ID);

    // Assess
    expect(outcome).toBe('already-gone');
  });

  it('throws on any other failure', async () => {
    // Prepare
    const graph = fakeGraph(() => graphError(403, 'Forbidden', 'Insufficient privileges.'));
    const api = subscriptionsApi(graph.fetch);

    // Act
    const error = await rejection(api.deleteSubscription(TENANT, SUBSCRIPTION_ID), GraphRequestError);

    // Assess
    expect(error.status).toBe(403);
  });
});

describe('listSubscriptions', () => {
  it('follows @odata.nextLink across pages and returns every subscription', async () => {
    // Prepare
    const pages = [
      { value: [subscription({ id: 's1', clientState: null })], '@odata.nextLink': `${GRAPH_URL}/v1.0/subscriptions?$skiptoken=page2` },
      { value: [subscription({ id: 's2', clientState: null }), subscription({ id: 's3', clientState: null })], '@odata.nextLink': `${GRAPH_URL}/v1.0/subscriptions?$skiptoken=page3` },
      { value: [] },
    ];
    const graph = fakeGraph((_call, index) => json(200, pages[index]));
    const api = subscriptionsApi(graph.fetch);

    // Act
    const all = await api.listSubscriptions(TENANT);

    // Assess
    expect(all.map((s) => s.id)).toEqual(['s1', 's2', 's3']);
    expect(all.every((s) => s.clientState === undefined)).toBe(true);
    expect(graph.calls.map((c) => c.url)).toEqual([
      `${GRAPH_URL}/v1.0/subscriptions`,
      `${GRAPH_URL}/v1.0/subscriptions?$skiptoken=page2`,
      `${GRAPH_URL}/v1.0/subscriptions?$skiptoken=page3`,
    ]);
  });

  it('refuses a nextLink that leaves the configured Graph base, sending it nothing', async () => {
    // Prepare
    const graph = fakeGraph(() => json(200, { value: [subscription()], '@odata.nextLink': 'https://attacker.example/v1.0/subscriptions?$skiptoken=x' }));
    const api = subscriptionsApi(graph.fetch);

    // Act
    const error = await rejection(api.listSubscriptions(TENANT), GraphUrlError);

    // Assess
    expect(error.message).toContain('https://attacker.example');
    expect(graph.calls.map((c) => c.url)).toEqual([`${GRAPH_URL}/v1.0/subscriptions`]);
  });

  it('names the field of the item that does not parse', async () => {
    // Prepare
    const graph = fakeGraph(() => json(200, { value: [subscription({ id: 's1' }), subscription({ id: 's2', notificationUrl: 42 })] }));
    const api = subscriptionsApi(graph.fetch);

    // Act
    const error = await rejection(api.listSubscriptions(TENANT), InvalidGraphResponseError);

    // Assess
    expect(error.fields).toEqual(['value.1.notificationUrl']);
    expect(error.message).toContain('value.1.notificationUrl');
  });

  it('refuses a page without a value array', async () => {
    // Prepare
    const graph = fakeGraph(() => json(200, { subscriptions: [] }));
    const api = subscriptionsApi(graph.fetch);

    // Act
    const error = await rejection(api.listSubscriptions(TENANT), InvalidGraphResponseError);

    // Assess
    expect(error.fields).toEqual(['value']);
  });

  it('stops following a nextLink loop after the page limit', async () => {
    // Prepare: every page links to itself
    const graph = fakeGraph(() => json(200, { value: [], '@odata.nextLink': `${GRAPH_URL}/v1.0/subscriptions?$skiptoken=same` }));
    const api = subscriptionsApi(graph.fetch);

    // Act
    const error = await rejection(api.listSubscriptions(TENANT), InvalidGraphResponseError);

    // Assess
    expect(error.fields).toEqual(['@odata.nextLink']);
    expect(graph.calls).toHaveLength(GRAPH_DEFAULTS.maxListPages);
  });
});
