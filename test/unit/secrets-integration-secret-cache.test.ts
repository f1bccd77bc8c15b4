/**
 * IntegrationSecretCache over a real SecretsManagerClient whose `send` is replaced, so the commands it builds are the SDK's
 * own; time is a settable clock given through the `now` option.
 */
import {
  GetSecretValueCommand,
  InternalServiceError,
  ResourceNotFoundException,
  SecretsManagerClient,
  SecretsManagerServiceException,
  type GetSecretValueCommandOutput,
} from '@aws-sdk/client-secrets-manager';
import { SecretUnavailableError, IntegrationSecretCache, type IntegrationSecretCacheOptions } from '../../shared/secrets/integration-secret-cache';
import { deferred, settle, type Deferred } from '../support/fakes';

const PREFIX = 'graph-relay/test/integrations/';
const CURRENT = 'current-secret-0123456789';
const PREVIOUS = 'previous-secret-9876543210';
const START = Date.UTC(2024, 4, 1, 12, 0, 0);
const ROTATED = 'rotated-secret-abcdefghijk';

/** The clock every IntegrationSecretCache of a test reads; reset before each test. */
let time = START;

type Answer = (secretId: string) => Promise<Partial<GetSecretValueCommandOutput>>;

function stubClient(answer: Answer) {
  const client = new SecretsManagerClient({ region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  const requests: string[] = [];
  const send = async (command: unknown) => {
    if (!(command instanceof GetSecretValueCommand)) throw new Error('unexpected command');
    const secretId = command.input.SecretId ?? '';
    requests.push(secretId);
    return { $metadata: {}, ...(await answer(secretId)) };
  };
  Object.assign(client, { send });
  return { client, requests };
}

const secretString = (value: Record<string, unknown>) => async () => ({ SecretString: JSON.stringify(value) });
const notFound = () => new ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret.", $metadata: {} });

function webhookSecrets(client: SecretsManagerClient, options: Partial<IntegrationSecretCacheOptions> = {}) {
  return new IntegrationSecretCache({
    client,
    prefix: PREFIX,
    maxAgeSeconds: 300,
    refreshIntervalSeconds: 10,
    now: () => time,
    ...options,
  });
}

async function thrown(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return undefined;
}

beforeEach(() => {
  time = START;
});

describe('IntegrationSecretCache.accepted', () => {
  it('reads the secret named <prefix><integrationId> and returns its webhook secret', async () => {
    // Prepare
    const stub = stubClient(secretString({ webhookSecret: CURRENT }));

    // Act
    const accepted = await webhookSecrets(stub.client).accepted('contoso');

    // Assess
    expect(accepted).toEqual([CURRENT]);
    expect(stub.requests).toEqual([`${PREFIX}contoso`]);
  });

  it('accepts the previous webhook secret too, during a rotation', async () => {
    // Prepare
    const stub = stubClient(secretString({ webhookSecret: CURRENT, previousWebhookSecret: PREVIOUS, clientId: 'kept' }));

    // Act
    const accepted = await webhookSecrets(stub.client).accepted('contoso');

    // Assess
    expect(accepted).toEqual([CURRENT, PREVIOUS]);
  });

  it('serves repeated reads from its cache', async () => {
    // Prepare
    const stub = stubClient(secretString({ webhookSecret: CURRENT }));
    const secrets = webhookSecrets(stub.client);

    // Act
    for (let i = 0; i < 5; i += 1) await secrets.accepted('contoso');

    // Assess
    expect(stub.requests).toHaveLength(1);
  });

  it('keeps one cache entry per integration', async () => {
    // Prepare
    const stub = stubClient(async (id) => ({ SecretString: JSON.stringify({ webhookSecret: `${id.slice(PREFIX.length)}-secret-0123456789` }) }));
    const secrets = webhookSecrets(stub.client);

    // Act
    const a = await secrets.accepted('contoso');
    const b = await secrets.accepted('fabrikam');

    // Assess
    expect(a).toEqual(['contoso-secret-0123456789']);
    expect(b).toEqual(['fabrikam-secret-0123456789']);
    expect(stub.requests).toEqual([`${PREFIX}contoso`, `${PREFIX}fabrikam`]);
  });

  it('reads the secret again once its max age has passed', async () => {
    // Prepare
    let value = CURRENT;
    const stub = stubClient(async () => ({ SecretString: JSON.stringify({ webhookSecret: value }) }));
    const secrets = webhookSecrets(stub.client, { maxAgeSeconds: 300 });
    await secrets.accepted('contoso');
    value = PREVIOUS;

    // Act
    time = START + 299_000;
    const withinMaxAge = await secrets.accepted('contoso');
    time = START + 301_000;
    const afterMaxAge = await secrets.accepted('contoso');

    // Assess
    expect(withinMaxAge).toEqual([CURRENT]);
    expect(afterMaxAge).toEqual([PREVIOUS]);
    expect(stub.requests).toHaveLength(2);
  });

  it('returns undefined for a secret that does not exist', async () => {
    // Prepare
    const stub = stubClient(async () => Promise.reject(notFound()));

    // Act
    const accepted = await webhookSecrets(stub.client).accepted('contoso');

    // Assess
    expect(accepted).toBeUndefined();
  });

  it('remembers a missing secret briefly, then looks again', async () => {
    // Prepare
    let exists = false;
    const stub = stubClient(async () => {
      if (!exists) throw notFound();
      return { SecretString: JSON.stringify({ webhookSecret: CURRENT }) };
    });
    const secrets = webhookSecrets(stub.client, { refreshIntervalSeconds: 10 });
    await secrets.accepted('contoso');
    exists = true;

    // Act
    time = START + 9_000;
    const remembered = await secrets.accepted('contoso');
    const requestsWhileRemembered = stub.requests.length;
    time = START + 10_001;
    const found = await secrets.accepted('contoso');

    // Assess
    expect(remembered).toBeUndefined();
    expect(requestsWhileRemembered).toBe(1);
    expect(found).toEqual([CURRENT]);
  });

  it.each<[string, () => Error]>([
    ['an InternalServiceError', () => new InternalServiceError({ message: 'service fault', $metadata: { httpStatusCode: 500 } })],
    [
      'an AccessDeniedException',
      () => new SecretsManagerServiceException({ name: 'AccessDeniedException', $fault: 'client', message: 'not authorized', $metadata: { httpStatusCode: 400 } }),
    ],
    ['a network error', () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
  ])('throws SecretUnavailableError for %s', async (_label, error) => {
    // Prepare
    const stub = stubClient(async () => Promise.reject(error()));

    // Act
    const result = await thrown(webhookSecrets(stub.client).accepted('contoso'));

    // Assess
    expect(result).toBeInstanceOf(SecretUnavailableError);
    expect((result as Error).message).toContain(`${PREFIX}contoso`);
  });

  it('does not remember a read error: the next request reads again', async () => {
    // Prepare
    let failing = true;
    const stub = stubClient(async () => {
      if (failing) throw new InternalServiceError({ message: 'service fault', $metadata: { httpStatusCode: 500 } });
      return { SecretString: JSON.stringify({ webhookSecret: CURRENT }) };
    });
    const secrets = webhookSecrets(stub.client);
    await thrown(secrets.accepted('contoso'));
    failing = false;

    // Act
    const accepted = await secrets.accepted('contoso');

    // Assess
    expect(accepted).toEqual([CURRENT]);
    expect(stub.requests).toHaveLength(2);
  });

  it.each<[string, Partial<GetSecretValueCommandOutput>]>([
    ['not JSON', { SecretString: `webhookSecret=${CURRENT}` }],
    ['JSON without webhookSecret', { SecretString: JSON.stringify({ clientId: 'x' }) }],
    ['a webhook secret too short', { SecretString: JSON.stringify({ webhookSecret: 'short-secret' }) }],
    ['a webhook secret with spaces', { SecretString: JSON.stringify({ webhookSecret: 'has spaces in the secret value' }) }],
    ['a webhook secret over 128 characters', { SecretString: JSON.stringify({ webhookSecret: 'x'.repeat(129) }) }],
    ['a binary secret', { SecretBinary: new Uint8Array([1, 2, 3]) }],
  ])('throws SecretUnavailableError for a secret that is %s, without echoing it', async (_label, output) => {
    // Prepare
    const stub = stubClient(async () => output);

    // Act
    const result = await thrown(webhookSecrets(stub.client).accepted('contoso'));

    // Assess
    expect(result).toBeInstanceOf(SecretUnavailableError);
    const message = (result as Error).message;
    expect(message).not.toContain(CURRENT);
    expect(message).not.toContain('short-secret');
    expect(message).not.toContain('has spaces');
    expect(message).not.toContain('x'.repeat(129));
  });
});

describe('IntegrationSecretCache after an invalid secret', () => {
  it('re-reads a secret that failed to parse (at most once per refresh interval) instead of serving it for max age', async () => {
    // Prepare
    let value = 'webhookSecret=not-json';
    const stub = stubClient(async () => ({ SecretString: value }));
    const secrets = webhookSecrets(stub.client);
    const first = await thrown(secrets.accepted('contoso'));
    value = JSON.stringify({ webhookSecret: CURRENT });

    // Act
    const withinInterval = await thrown(secrets.accepted('contoso'));
    time = START + 11_000;
    const afterInterval = await secrets.accepted('contoso');

    // Assess
    expect(first).toBeInstanceOf(SecretUnavailableError);
    expect(withinInterval).toBeInstanceOf(SecretUnavailableError);
    expect(afterInterval).toEqual([CURRENT]);
    expect(stub.requests).toHaveLength(2);
  });
});

/** A Secrets Manager whose answers the test releases one by one, to hold reads in flight. */
function heldClient(value: () => Record<string, unknown>) {
  const held: Deferred<void>[] = [];
  const stub = stubClient(async () => {
    const gate = deferred<void>();
    held.push(gate);
    await gate.promise;
    return { SecretString: JSON.stringify(value()) };
  });
  return { ...stub, held };
}

describe('IntegrationSecretCache.acceptedSince (after a clientState mismatch)', () => {
  it('answers from the cache, with no read, when the cached secret was read since the request arrived', async () => {
    // Prepare
    const stub = stubClient(secretString({ webhookSecret: CURRENT }));
    const secrets = webhookSecrets(stub.client);
    const arrivedAt = time;
    await secrets.accepted('contoso');

    // Act
    time += 1_000;
    const fresh = await secrets.acceptedSince('contoso', arrivedAt);

    // Assess
    expect(fresh).toEqual([CURRENT]);
    expect(stub.requests).toHaveLength(1);
    expect(secrets.reads).toBe(1);
  });

  it('re-reads a secret cached before the request arrived, so a rotation takes effect for later requests too', async () => {
    // Prepare
    let value: Record<string, string> = { webhookSecret: CURRENT };
    const stub = stubClient(async () => ({ SecretString: JSON.stringify(value) }));
    const secrets = webhookSecrets(stub.client);
    await secrets.accepted('contoso');
    value = { webhookSecret: ROTATED, previousWebhookSecret: CURRENT };
    time += 60_000;

    // Act
    const fresh = await secrets.acceptedSince('contoso', time);
    const afterwards = await secrets.accepted('contoso');

    // Assess
    expect(fresh).toEqual([ROTATED, CURRENT]);
    expect(afterwards).toEqual([ROTATED, CURRENT]);
    expect(stub.requests).toHaveLength(2);
  });

  it('shares one read among concurrent mismatching requests', async () => {
    // Prepare
    const stub = heldClient(() => ({ webhookSecret: ROTATED }));
    const secrets = webhookSecrets(stub.client);
    const first = secrets.accepted('contoso');
    await settle();
    stub.held[0]?.resolve();
    await first;
    time += 60_000;
    const arrivedAt = time;

    // Act: three requests that arrived together, each with a clientState the cached secret does not match
    const answers = [1, 2, 3].map(() => secrets.acceptedSince('contoso', arrivedAt));
    await settle();
    const readsInFlight = stub.requests.length;
    for (const gate of stub.held) gate.resolve();
    const fresh = await Promise.all(answers);

    // Assess
    expect(readsInFlight).toBe(2);
    expect(fresh).toEqual([[ROTATED], [ROTATED], [ROTATED]]);
    expect(stub.requests).toHaveLength(2);
  });

  it('joins a read already under way that began after the request arrived', async () => {
    // Prepare: the cached secret is past its max age, so a request's accepted() starts a read
    const stub = heldClient(() => ({ webhookSecret: CURRENT }));
    const secrets = webhookSecrets(stub.client, { maxAgeSeconds: 300 });
    const warm = secrets.accepted('contoso');
    await settle();
    stub.held[0]?.resolve();
    await warm;
    time += 301_000;
    const arrivedAt = time;
    const scheduled = secrets.accepted('contoso');
    await settle();

    // Act
    const fresh = secrets.acceptedSince('contoso', arrivedAt);
    await settle();
    stub.held[1]?.resolve();

    // Assess
    expect(await fresh).toEqual([CURRENT]);
    expect(await scheduled).toEqual([CURRENT]);
    expect(stub.requests).toHaveLength(2);
  });

  it('does not trust a read that began before the request arrived: it reads again once that one ends', async () => {
    // Prepare
    let value: Record<string, string> = { webhookSecret: CURRENT };
    const stub = heldClient(() => value);
    const secrets = webhookSecrets(stub.client);
    const early = secrets.accepted('contoso');
    await settle();
    time += 1_000;
    const arrivedAt = time;

    // Act
    const fresh = secrets.acceptedSince('contoso', arrivedAt);
    await settle();
    stub.held[0]?.resolve();
    await early;
    value = { webhookSecret: ROTATED, previousWebhookSecret: CURRENT };
    await settle();
    stub.held[1]?.resolve();

    // Assess
    expect(await fresh).toEqual([ROTATED, CURRENT]);
    expect(stub.requests).toHaveLength(2);
  });

  it("answers 'unconfirmed' to a request that arrived after a read began, when a read was already forced within the interval", async () => {
    // Prepare: a forced read under way since before the request arrived, which may have missed a rotation since
    const stub = heldClient(() => ({ webhookSecret: CURRENT }));
    const secrets = webhookSecrets(stub.client, { refreshIntervalSeconds: 10 });
    const forced = secrets.acceptedSince('contoso', time);
    await settle();
    time += 5;

    // Act
    const later = await secrets.acceptedSince('contoso', time);
    stub.held[0]?.resolve();

    // Assess
    expect(later).toBe('unconfirmed');
    expect(await forced).toEqual([CURRENT]);
    expect(stub.requests).toHaveLength(1);
  });

  it("answers 'unconfirmed', with no read, when the integration's secret was re-read within the refresh interval", async () => {
    // Prepare
    const stub = stubClient(secretString({ webhookSecret: CURRENT }));
    const secrets = webhookSecrets(stub.client, { refreshIntervalSeconds: 10 });
    await secrets.acceptedSince('contoso', time);
    const forcedAt = time;

    // Act
    time = forcedAt + 9_999;
    const limited = await secrets.acceptedSince('contoso', time);
    const readsWhileLimited = stub.requests.length;
    time = forcedAt + 10_000;
    const again = await secrets.acceptedSince('contoso', time);

    // Assess
    expect(limited).toBe('unconfirmed');
    expect(readsWhileLimited).toBe(1);
    expect(again).toEqual([CURRENT]);
    expect(stub.requests).toHaveLength(2);
  });

  it('re-reads within the refresh interval when the request is vouched for (items of it verified)', async () => {
    // Prepare
    let stored = CURRENT;
    const stub = stubClient(async () => ({ SecretString: JSON.stringify({ webhookSecret: stored }) }));
    const secrets = webhookSecrets(stub.client, { refreshIntervalSeconds: 10 });
    await secrets.acceptedSince('contoso', time);
    const forcedAt = time;
    stored = PREVIOUS;

    // Act
    time = forcedAt + 1_000;
    const vouched = await secrets.acceptedSince('contoso', time, { vouched: true });

    // Assess
    expect(vouched).toEqual([PREVIOUS]);
    expect(stub.requests).toHaveLength(2);
  });

  it('rate-limits each integration separately', async () => {
    // Prepare
    const stub = stubClient(secretString({ webhookSecret: CURRENT }));
    const secrets = webhookSecrets(stub.client);
    await secrets.acceptedSince('contoso', time);

    // Act
    time += 1_000;
    const other = await secrets.acceptedSince('fabrikam', time);

    // Assess
    expect(other).toEqual([CURRENT]);
    expect(stub.requests).toEqual([`${PREFIX}contoso`, `${PREFIX}fabrikam`]);
  });

  it('reads again after invalidate, even within the refresh interval', async () => {
    // Prepare
    let value: Record<string, string> = { webhookSecret: CURRENT };
    const stub = stubClient(async () => ({ SecretString: JSON.stringify(value) }));
    const secrets = webhookSecrets(stub.client);
    await secrets.acceptedSince('contoso', time);
    value = { webhookSecret: ROTATED, previousWebhookSecret: CURRENT };
    time += 1_000;

    // Act
    const beforeInvalidate = await secrets.acceptedSince('contoso', time);
    secrets.invalidate('contoso');
    const afterInvalidate = await secrets.acceptedSince('contoso', time);
    const accepted = await secrets.accepted('contoso');

    // Assess
    expect(beforeInvalidate).toBe('unconfirmed');
    expect(afterInvalidate).toEqual([ROTATED, CURRENT]);
    expect(accepted).toEqual([ROTATED, CURRENT]);
    expect(stub.requests).toHaveLength(2);
  });

  it('makes accepted() read again after invalidate, within the max age', async () => {
    // Prepare
    let value: Record<string, string> = { webhookSecret: CURRENT };
    const stub = stubClient(async () => ({ SecretString: JSON.stringify(value) }));
    const secrets = webhookSecrets(stub.client, { maxAgeSeconds: 300 });
    await secrets.accepted('contoso');
    value = { webhookSecret: ROTATED };

    // Act
    secrets.invalidate('contoso');
    const accepted = await secrets.accepted('contoso');

    // Assess
    expect(accepted).toEqual([ROTATED]);
    expect(stub.requests).toHaveLength(2);
  });

  it('finds a secret created since a missing one was remembered', async () => {
    // Prepare
    let exists = false;
    const stub = stubClient(async () => {
      if (!exists) throw notFound();
      return { SecretString: JSON.stringify({ webhookSecret: CURRENT }) };
    });
    const secrets = webhookSecrets(stub.client);
    const missing = await secrets.accepted('contoso');
    exists = true;
    time += 1_000;

    // Act
    const fresh = await secrets.acceptedSince('contoso', time);

    // Assess
    expect(missing).toBeUndefined();
    expect(fresh).toEqual([CURRENT]);
  });

  it('returns undefined when the secret was deleted', async () => {
    // Prepare
    let exists = true;
    const stub = stubClient(async () => {
      if (!exists) throw notFound();
      return { SecretString: JSON.stringify({ webhookSecret: CURRENT }) };
    });
    const secrets = webhookSecrets(stub.client);
    await secrets.accepted('contoso');
    exists = false;
    time += 1_000;

    // Act
    const fresh = await secrets.acceptedSince('contoso', time);

    // Assess
    expect(fresh).toBeUndefined();
  });

  it('throws SecretUnavailableError when the re-read fails', async () => {
    // Prepare
    const stub = stubClient(async () => Promise.reject(new InternalServiceError({ message: 'fault', $metadata: { httpStatusCode: 500 } })));

    // Act
    const result = await thrown(webhookSecrets(stub.client).acceptedSince('contoso', time));

    // Assess
    expect(result).toBeInstanceOf(SecretUnavailableError);
  });
});

describe('IntegrationSecretCache while Secrets Manager fails (stale if error)', () => {
  const fault = () => new InternalServiceError({ message: 'service fault', $metadata: { httpStatusCode: 500 } });

  function failingAfterFirstRead() {
    let failing = false;
    const stub = stubClient(async () => {
      if (failing) throw fault();
      return { SecretString: JSON.stringify({ webhookSecret: CURRENT, previousWebhookSecret: PREVIOUS }) };
    });
    return { stub, fail: () => (failing = true) };
  }

  it('keeps using the last secret read when a scheduled re-read fails, and says so', async () => {
    // Prepare
    const { stub, fail } = failingAfterFirstRead();
    const stale: { integrationId: string; ageSeconds: number; error: string }[] = [];
    const secrets = webhookSecrets(stub.client, { staleIfErrorSeconds: 3600, onStale: (event) => stale.push(event) });
    await secrets.accepted('contoso');
    fail();
    time = START + 301_000;

    // Act
    const accepted = await secrets.accepted('contoso');

    // Assess
    expect(accepted).toEqual([CURRENT, PREVIOUS]);
    expect(stub.requests).toHaveLength(2);
    expect(stale).toEqual([{ integrationId: 'contoso', ageSeconds: 301, error: expect.stringContaining('service fault') }]);
    expect(JSON.stringify(stale)).not.toContain(CURRENT);
  });

  it('fails once the last good read is older than the stale limit', async () => {
    // Prepare
    const { stub, fail } = failingAfterFirstRead();
    const secrets = webhookSecrets(stub.client, { staleIfErrorSeconds: 600 });
    await secrets.accepted('contoso');
    fail();
    time = START + 601_000;

    // Act
    const result = await thrown(secrets.accepted('contoso'));

    // Assess
    expect(result).toBeInstanceOf(SecretUnavailableError);
  });

  it('never falls back on a re-read forced by a clientState mismatch: a rotated secret must not make notifications forged', async () => {
    // Prepare
    const { stub, fail } = failingAfterFirstRead();
    const secrets = webhookSecrets(stub.client, { staleIfErrorSeconds: 3600 });
    await secrets.accepted('contoso');
    fail();
    time = START + 11_000;

    // Act
    const result = await thrown(secrets.acceptedSince('contoso', time));

    // Assess
    expect(result).toBeInstanceOf(SecretUnavailableError);
  });

  it('does not invent a secret it never read, and is off by default', async () => {
    // Prepare
    const never = stubClient(async () => Promise.reject(fault()));
    const { stub, fail } = failingAfterFirstRead();
    const withoutStale = webhookSecrets(stub.client);
    await withoutStale.accepted('contoso');
    fail();
    time = START + 301_000;

    // Act
    const neverRead = await thrown(webhookSecrets(never.client, { staleIfErrorSeconds: 3600 }).accepted('contoso'));
    const defaultOff = await thrown(withoutStale.accepted('contoso'));

    // Assess
    expect(neverRead).toBeInstanceOf(SecretUnavailableError);
    expect(defaultOff).toBeInstanceOf(SecretUnavailableError);
  });
});

describe('IntegrationSecretCache.richConfig', () => {
  it("gives a receive-only integration's client id (no credentials) as the validation tokens' audience", async () => {
    // Prepare
    const clientId = '3F2A1B4C-5D6E-4F70-8A9B-0C1D2E3F4A5B';
    const stub = stubClient(secretString({ webhookSecret: CURRENT, clientId }));

    // Act
    const config = await webhookSecrets(stub.client).richConfig('contoso');

    // Assess
    expect(config.audiences).toEqual([clientId.toLowerCase()]);
  });
});

describe('IntegrationSecretCache.document (the whole secret, for the functions that call Graph)', () => {
  it('returns the parsed secret, the same object while it is fresh, with one read', async () => {
    // Prepare
    const stub = stubClient(secretString({ webhookSecret: CURRENT, clientId: '00000000-0000-0000-0000-000000000001' }));
    const cache = webhookSecrets(stub.client);

    // Act
    const first = await cache.document('contoso');
    time += 299_000;
    const second = await cache.document('contoso');

    // Assess
    expect(first).toEqual({ webhookSecret: CURRENT, clientId: '00000000-0000-0000-0000-000000000001' });
    expect(second).toBe(first);
    expect(stub.requests).toEqual([`${PREFIX}contoso`]);
  });

  it('reads again once the max age has passed', async () => {
    // Prepare
    let value = CURRENT;
    const stub = stubClient(async () => ({ SecretString: JSON.stringify({ webhookSecret: value }) }));
    const cache = webhookSecrets(stub.client);
    await cache.document('contoso');

    // Act
    value = ROTATED;
    time += 301_000;
    const read = await cache.document('contoso');

    // Assess
    expect(read).toEqual({ webhookSecret: ROTATED });
    expect(stub.requests).toHaveLength(2);
  });

  it('returns a secret whose webhook secret is unusable: only the intake needs it', async () => {
    // Prepare
    const stub = stubClient(secretString({ clientId: '00000000-0000-0000-0000-000000000001' }));

    // Act
    const read = await webhookSecrets(stub.client).document('contoso');

    // Assess
    expect(read).toEqual({ clientId: '00000000-0000-0000-0000-000000000001' });
  });

  it('refuses a missing secret, and looks again on the next call', async () => {
    // Prepare
    const stub = stubClient(async () => {
      throw notFound();
    });
    const cache = webhookSecrets(stub.client);

    // Act
    const first = await thrown(cache.document('contoso'));
    const second = await thrown(cache.document('contoso'));

    // Assess
    expect(first).toBeInstanceOf(SecretUnavailableError);
    expect((first as Error).message).toBe(`secret ${PREFIX}contoso does not exist`);
    expect((second as Error).message).toBe(`secret ${PREFIX}contoso does not exist`);
    expect(stub.requests).toHaveLength(2);
  });

  it('refuses a secret that is not JSON without quoting it', async () => {
    // Prepare
    const stub = stubClient(async () => ({ SecretString: 'not json {' }));

    // Act
    const error = await thrown(webhookSecrets(stub.client).document('contoso'));

    // Assess
    expect(error).toBeInstanceOf(SecretUnavailableError);
    expect((error as Error).message).toBe(`secret ${PREFIX}contoso is not JSON`);
  });

  it('names the service error of a failed read and never falls back to an older secret', async () => {
    // Prepare
    let fail = false;
    const stub = stubClient(async () => {
      if (fail) throw new InternalServiceError({ message: 'service unavailable', $metadata: {} });
      return { SecretString: JSON.stringify({ webhookSecret: CURRENT }) };
    });
    const cache = webhookSecrets(stub.client, { staleIfErrorSeconds: 3600 });
    await cache.document('contoso');

    // Act
    fail = true;
    time += 301_000;
    const error = await thrown(cache.document('contoso'));

    // Assess
    expect(error).toBeInstanceOf(SecretUnavailableError);
    expect((error as Error).message).toBe(`cannot read secret ${PREFIX}contoso: InternalServiceError: service unavailable`);
  });
});
