/**
 * Encryption certificates from the CLI, in-process through `run` with in-memory ports:
 * `integrations put --encryption-*`, `certificates create | list | remove`, and what `integrations list` shows.
 * Every refusal leaves the secret as it was, and no output ever holds private key material.
 */
import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context, GlobalOptions, Ports } from '../../cli/context';
import { run } from '../../cli/main';
import { TAKES_EFFECT } from '../../cli/takes-effect';
import type { SecretStatus, SecretStore } from '../../cli/secret-store';
import { createSelfSignedCertificate, type SelfSignedCertificate } from '../../cli/self-signed-certificate';
import { decryptContent } from '../../shared/rich/encrypted-content';
import { encryptionKeysFrom } from '../../shared/secrets/encryption-keys';
import { integrationSecretSchema } from '../../shared/secrets/integration-secret';
import type { ConnectionsStore } from '../../shared/store/connections-store';
import type { Integration } from '../../shared/store/items';
import { encryptContent } from '../../testkit/rich-content';

const PREFIX = 'graph-relay/test/integrations/';
const AT = '2024-05-01T12:00:00.000Z';
const WEBHOOK_SECRET = 'the-current-webhook-secret';
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

class MemorySecretStore implements SecretStore {
  readonly values = new Map<string, string>();
  writes = 0;
  async read(name: string) {
    return this.values.get(name);
  }
  async create(name: string, value: string) {
    this.writes += 1;
    this.values.set(name, value);
  }
  async update(name: string, value: string) {
    this.writes += 1;
    this.values.set(name, value);
  }
  async status(name: string): Promise<SecretStatus> {
    return this.values.has(name) ? 'present' : 'missing';
  }
  async delete(name: string) {
    return this.values.delete(name);
  }
}

/** A port these commands must never reach: any use fails the test loudly. */
function unreachable<T extends object>(what: string): T {
  return new Proxy({} as T, {
    get: (_target, property) => {
      throw new Error(`${what}.${String(property)} is not used by the certificate commands`);
    },
  });
}

/** Only the integration methods of the connections store are reached by these commands. */
class MemoryIntegrations {
  readonly integrations = new Map<string, Integration>();
  async putIntegration(input: { integrationId: string; provider: string }) {
    const existing = this.integrations.get(input.integrationId);
    const integration: Integration = {
      ...input,
      configVersion: (existing?.configVersion ?? 0) + 1,
      routesVersion: existing?.routesVersion ?? 0,
      createdAt: existing?.createdAt ?? AT,
      updatedAt: AT,
    };
    this.integrations.set(input.integrationId, integration);
    return { integration, created: existing === undefined };
  }
  async bumpConfigVersion(integrationId: string) {
    const existing = this.integrations.get(integrationId);
    if (existing === undefined) return false;
    this.integrations.set(integrationId, { ...existing, configVersion: existing.configVersion + 1 });
    return true;
  }
  async getIntegration(integrationId: string) {
    return this.integrations.get(integrationId);
  }
  async listIntegrations() {
    return { integrations: [...this.integrations.values()], invalidItems: [] };
  }
}

function harness() {
  const secrets = new MemorySecretStore();
  const integrations = new MemoryIntegrations();
  const opened: GlobalOptions[] = [];
  const store = new Proxy(integrations, {
    get: (target, property) => {
      if (property in target) return target[property as keyof MemoryIntegrations];
      throw new Error(`store.${String(property)} is not used by the certificate commands`);
    },
  }) as unknown as ConnectionsStore;
  const context: Context = {
    target: { region: 'us-east-1', connectionsTable: 'connections', webhookSecretPrefix: PREFIX },
    store,
    subscriptions: unreachable('subscriptions'),
    secrets,
    graph: unreachable('graph'),
    close: () => undefined,
  };
  const ports: Ports = {
    openContext: async (globals) => {
      opened.push(globals);
      return context;
    },
    eventsFile: async () => '/nonexistent/events.ndjson',
  };
  return {
    secrets,
    integrations,
    opened,
    async cli(...argv: string[]) {
      const stdout: string[] = [];
      const stderr: string[] = [];
      const output = { out: (line: string) => stdout.push(line), err: (line: string) => stderr.push(line) };
      const code = await run(argv, { output, ports, interrupt: () => new AbortController().signal, readStdin: async () => '' });
      return { code, stdout, stderr };
    },
    secretOf(integrationId: string): Record<string, unknown> {
      return JSON.parse(secrets.values.get(`${PREFIX}${integrationId}`) ?? 'null') as Record<string, unknown>;
    },
    seed(integrationId: string, secret: Record<string, unknown>) {
      secrets.values.set(`${PREFIX}${integrationId}`, JSON.stringify({ webhookSecret: WEBHOOK_SECRET, ...secret }));
    },
  };
}

const dir = mkdtempSync(join(tmpdir(), 'graph-relay-cli-certificates-'));
function pemFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const pair = (commonName: string, options: { modulusLength?: number; validFrom?: number; validTo?: number } = {}) => createSelfSignedCertificate({ commonName, ...options });
const entry = (certificate: SelfSignedCertificate, createdAt?: string) => ({
  certificatePem: certificate.certificatePem,
  privateKeyPem: certificate.privateKeyPem,
  ...(createdAt === undefined ? {} : { createdAt }),
});
const noKeyMaterial = (...outputs: { stdout: string[]; stderr: string[] }[]) =>
  outputs.flatMap((output) => [...output.stdout, ...output.stderr]).join('\n');

const a = pair('cert a');
const b = pair('cert b');
const c = pair('cert c');
const aCert = pemFile('a-cert.pem', a.certificatePem);
const aKey = pemFile('a-key.pem', a.privateKeyPem);
const bBoth = pemFile('b-both.pem', `${b.certificatePem}${b.privateKeyPem}`);
const cBoth = pemFile('c-both.pem', `${c.privateKeyPem}${c.certificatePem}`);

describe('integrations put with encryption certificates', () => {
  it('adds several certificates at once, paired in order, one from a PEM given to both flags, keeping the other fields', async () => {
    // Prepare
    const h = harness();
    h.seed('contoso', { note: 'kept' });

    // Act
    const result = await h.cli(
      'integrations', 'put', 'contoso',
      '--encryption-certificate-id', 'enc-a', '--encryption-certificate-file', aCert, '--encryption-key-file', aKey,
      '--encryption-certificate-id', 'enc-b', '--encryption-certificate-file', bBoth, '--encryption-key-file', bBoth,
    );

    // Assess
    expect(result.code).toBe(0);
    expect(result.stderr).toEqual([]);
    expect(result.stdout.slice(1, 4)).toEqual([
      `encryption certificate "enc-a" added: thumbprint ${a.thumbprint}, not after ${a.notAfter.toISOString()}`,
      `encryption certificate "enc-b" added: thumbprint ${b.thumbprint}, not after ${b.notAfter.toISOString()}`,
      'current encryption certificate: "enc-b" (new rich subscriptions use it)',
    ]);
    const secret = h.secretOf('contoso');
    expect(secret).toEqual({
      webhookSecret: WEBHOOK_SECRET,
      note: 'kept',
      encryptionCertificates: {
        'enc-a': { ...entry(a), createdAt: expect.stringMatching(ISO) },
        'enc-b': { ...entry(b), createdAt: expect.stringMatching(ISO) },
      },
    });
    expect(integrationSecretSchema.safeParse(secret).success).toBe(true);
    expect(noKeyMaterial(result)).not.toContain('PRIVATE KEY');
  });

  it('replaces the entry of an id already stored, with a new createdAt, and keeps the others', async () => {
    // Prepare
    const h = harness();
    h.seed('contoso', { encryptionCertificates: { 'enc-a': entry(a, '2024-01-01T00:00:00.000Z'), 'enc-b': entry(b, '2024-01-02T00:00:00.000Z') }, currentEncryptionCertificateId: 'enc-b' });

    // Act
    const result = await h.cli('integrations', 'put', 'contoso', '--encryption-certificate-id', 'enc-a', '--encryption-certificate-file', cBoth, '--encryption-key-file', cBoth);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout[1]).toBe(`encryption certificate "enc-a" replaced: thumbprint ${c.thumbprint}, not after ${c.notAfter.toISOString()}`);
    expect(result.stdout[2]).toBe('current encryption certificate: "enc-b" (new rich subscriptions use it)');
    const certificates = h.secretOf('contoso')['encryptionCertificates'] as Record<string, { certificatePem: string; createdAt: string }>;
    expect(certificates['enc-a']?.certificatePem).toBe(c.certificatePem);
    expect(certificates['enc-a']?.createdAt).not.toBe('2024-01-01T00:00:00.000Z');
    expect(certificates['enc-b']).toEqual(entry(b, '2024-01-02T00:00:00.000Z'));
  });

  it('makes a stored certificate current with --current-encryption-certificate, reported in JSON', async () => {
    // Prepare
    const h = harness();
    h.seed('contoso', { encryptionCertificates: { 'enc-a': entry(a, '2024-01-01T00:00:00.000Z'), 'enc-b': entry(b, '2024-01-02T00:00:00.000Z') } });

    // Act
    const result = await h.cli('integrations', 'put', 'contoso', '--current-encryption-certificate', 'enc-a', '--json');

    // Assess
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout.join('\n'))).toMatchObject({
      secretChange: 'updated',
      encryptionCertificateChanges: { added: [], replaced: [], removed: [], currentId: 'enc-a' },
    });
    expect(h.secretOf('contoso')['currentEncryptionCertificateId']).toBe('enc-a');
    expect(encryptionKeysFrom(h.secretOf('contoso')).current()?.id).toBe('enc-a');
  });

  it('adds a certificate and makes it current while removing the old current one, in one command', async () => {
    // Prepare
    const h = harness();
    h.seed('contoso', { encryptionCertificates: { 'enc-a': entry(a), 'enc-b': entry(b) }, currentEncryptionCertificateId: 'enc-a' });

    // Act
    const result = await h.cli(
      'integrations', 'put', 'contoso',
      '--encryption-certificate-id', 'enc-c', '--encryption-certificate-file', cBoth, '--encryption-key-file', cBoth,
      '--current-encryption-certificate', 'enc-c',
      '--remove-encryption-certificate', 'enc-a', '--remove-encryption-certificate', 'enc-b',
    );

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout.slice(1, 5)).toEqual([
      `encryption certificate "enc-c" added: thumbprint ${c.thumbprint}, not after ${c.notAfter.toISOString()}`,
      'encryption certificate "enc-a" removed',
      'encryption certificate "enc-b" removed',
      'current encryption certificate: "enc-c" (new rich subscriptions use it)',
    ]);
    const secret = h.secretOf('contoso');
    expect(Object.keys(secret['encryptionCertificates'] as object)).toEqual(['enc-c']);
    expect(secret['currentEncryptionCertificateId']).toBe('enc-c');
  });

  it('removes a certificate that is not current', async () => {
    // Prepare
    const h = harness();
    h.seed('contoso', { encryptionCertificates: { 'enc-a': entry(a), 'enc-b': entry(b) }, currentEncryptionCertificateId: 'enc-b' });

    // Act
    const result = await h.cli('integrations', 'put', 'contoso', '--remove-encryption-certificate', 'enc-a');

    // Assess
    expect(result.code).toBe(0);
    expect(h.secretOf('contoso')).toEqual({ webhookSecret: WEBHOOK_SECRET, encryptionCertificates: { 'enc-b': entry(b) }, currentEncryptionCertificateId: 'enc-b' });
  });

  it('warns when an added certificate has expired', async () => {
    // Prepare
    const h = harness();
    const expired = pair('expired', { validFrom: Date.UTC(2020, 0, 1), validTo: Date.UTC(2021, 0, 1) });
    const file = pemFile('expired.pem', `${expired.certificatePem}${expired.privateKeyPem}`);

    // Act
    const result = await h.cli('integrations', 'put', 'contoso', '--encryption-certificate-id', 'old', '--encryption-certificate-file', file, '--encryption-key-file', file);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stderr).toEqual(['graph-relay: warning: encryption certificate "old" expired 2021-01-01T00:00:00.000Z: Graph refuses it for new subscriptions']);
  });

  it.each([
    [
      'the current one, named',
      { encryptionCertificates: { 'enc-a': entry(a), 'enc-b': entry(b) }, currentEncryptionCertificateId: 'enc-a' },
      ['--remove-encryption-certificate', 'enc-a'],
      'graph-relay: cannot remove encryption certificate "enc-a": it is the current one that new rich subscriptions use; make another current in the same command ' +
        '(graph-relay integrations put contoso --current-encryption-certificate <id> --remove-encryption-certificate enc-a)',
    ],
    [
      'the current one by default, the newest',
      { encryptionCertificates: { 'enc-a': entry(a, '2024-01-01T00:00:00.000Z'), 'enc-b': entry(b, '2024-02-01T00:00:00.000Z') } },
      ['--remove-encryption-certificate', 'enc-b'],
      'graph-relay: cannot remove encryption certificate "enc-b": it is the current one that new rich subscriptions use; make another current in the same command ' +
        '(graph-relay integrations put contoso --current-encryption-certificate <id> --remove-encryption-certificate enc-b)',
    ],
    [
      'a missing id',
      { encryptionCertificates: { 'enc-a': entry(a) } },
      ['--remove-encryption-certificate', 'enc-x'],
      'graph-relay: cannot remove encryption certificate "enc-x": integration "contoso" has no such certificate',
    ],
    [
      'a missing current id',
      { encryptionCertificates: { 'enc-a': entry(a) } },
      ['--current-encryption-certificate', 'enc-x'],
      'graph-relay: cannot make encryption certificate "enc-x" current: integration "contoso" has no such certificate',
    ],
    [
      'an invalid stored entry as current',
      { encryptionCertificates: { 'enc-a': entry(a), broken: { certificatePem: a.certificatePem, privateKeyPem: b.privateKeyPem } } },
      ['--current-encryption-certificate', 'broken'],
      'graph-relay: cannot make encryption certificate "broken" current: it is invalid (the private key does not belong to the certificate)',
    ],
  ])('refuses to remove or make current %s with exit code 1, writing nothing', async (_case, stored, args, message) => {
    // Prepare
    const h = harness();
    h.seed('contoso', stored);
    const before = h.secrets.values.get(`${PREFIX}contoso`);

    // Act
    const result = await h.cli('integrations', 'put', 'contoso', ...args);

    // Assess
    expect(result).toEqual({ code: 1, stdout: [], stderr: [message] });
    expect(h.secrets.values.get(`${PREFIX}contoso`)).toBe(before);
    expect(h.integrations.integrations.size).toBe(0);
  });

  it('refuses to remove from an integration without a secret with exit code 1', async () => {
    // Prepare
    const h = harness();

    // Act
    const result = await h.cli('integrations', 'put', 'contoso', '--remove-encryption-certificate', 'enc-a');

    // Assess
    expect(result).toEqual({ code: 1, stdout: [], stderr: ['graph-relay: cannot remove encryption certificate "enc-a": integration "contoso" has no such certificate'] });
    expect(h.secrets.writes).toBe(0);
  });

  const weak = pair('weak', { modulusLength: 1024 });
  const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const encryptedKey = a.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pass' }).toString();
  const add = (id: string, certificateFile: string, keyFile: string) => ['--encryption-certificate-id', id, '--encryption-certificate-file', certificateFile, '--encryption-key-file', keyFile];
  const files = {
    weak: pemFile('weak.pem', `${weak.certificatePem}${weak.privateKeyPem}`),
    otherKey: pemFile('other-key.pem', otherKey),
    ecKey: pemFile('ec-key.pem', ecKey),
    encryptedKey: pemFile('encrypted-key.pem', encryptedKey),
    twoKeys: pemFile('two-keys.pem', `${a.privateKeyPem}${otherKey}`),
    garbageCertificate: pemFile('garbage-cert.pem', '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n'),
    garbageKey: pemFile('garbage-key.pem', '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n'),
    notPem: pemFile('not-pem.txt', 'hello'),
    missing: join(dir, 'absent.pem'),
  };

  it.each([
    [
      add('enc-a', aCert, aKey).slice(0, 4),
      'graph-relay: --encryption-certificate-id, --encryption-certificate-file and --encryption-key-file go together, one of each per certificate, paired in order: got 1 id, 1 certificate file, 0 key files',
    ],
    [
      [...add('enc-a', aCert, aKey), '--encryption-certificate-id', 'enc-b', '--encryption-key-file', bBoth],
      'graph-relay: --encryption-certificate-id, --encryption-certificate-file and --encryption-key-file go together, one of each per certificate, paired in order: got 2 ids, 1 certificate file, 2 key files',
    ],
    [add('bad id!', aCert, aKey), 'graph-relay: invalid --encryption-certificate-id "bad id!": encryption certificate id must be 1-128 characters: letters, digits, ".", "_", ":", "-"'],
    [['--remove-encryption-certificate', '-x'], 'graph-relay: invalid --remove-encryption-certificate "-x": encryption certificate id must be 1-128 characters: letters, digits, ".", "_", ":", "-"'],
    [['--current-encryption-certificate', 'a/b'], 'graph-relay: invalid --current-encryption-certificate "a/b": encryption certificate id must be 1-128 characters: letters, digits, ".", "_", ":", "-"'],
    [[...add('enc-a', aCert, aKey), ...add('enc-a', bBoth, bBoth)], 'graph-relay: --encryption-certificate-id "enc-a" is given twice'],
    [[...add('enc-a', aCert, aKey), '--remove-encryption-certificate', 'enc-a'], 'graph-relay: encryption certificate "enc-a" is both added and removed'],
    [['--current-encryption-certificate', 'enc-a', '--remove-encryption-certificate', 'enc-a'], 'graph-relay: encryption certificate "enc-a" cannot be made current and removed in the same command'],
    [add('enc-a', aCert, files.missing), `graph-relay: cannot read --encryption-key-file ${files.missing}: no such file`],
    [add('enc-a', files.missing, aKey), `graph-relay: cannot read --encryption-certificate-file ${files.missing}: no such file`],
    [add('enc-a', aCert, aCert), `graph-relay: invalid --encryption-key-file ${aCert}: it holds no PEM private key`],
    [add('enc-a', aKey, aKey), `graph-relay: invalid --encryption-certificate-file ${aKey}: it holds no PEM certificate`],
    [add('enc-a', files.notPem, aKey), `graph-relay: invalid --encryption-certificate-file ${files.notPem}: it holds no PEM certificate`],
    [add('enc-a', aCert, files.twoKeys), `graph-relay: invalid --encryption-key-file ${files.twoKeys}: it holds 2 private keys; keep only the certificate's`],
    [
      add('enc-a', aCert, files.encryptedKey),
      `graph-relay: invalid --encryption-key-file ${files.encryptedKey}: the private key is encrypted; export it without a passphrase (openssl pkey -in key.pem -out plain-key.pem)`,
    ],
    [add('enc-a', aCert, files.otherKey), 'graph-relay: invalid encryption certificate "enc-a": the private key does not belong to the certificate'],
    [add('enc-a', files.weak, files.weak), 'graph-relay: invalid encryption certificate "enc-a": the RSA key has 1024 bits; Graph accepts 2048 to 4096'],
    [add('enc-a', aCert, files.ecKey), 'graph-relay: invalid encryption certificate "enc-a": the private key must be RSA, not ec'],
    [add('enc-a', files.garbageCertificate, aKey), 'graph-relay: invalid encryption certificate "enc-a": certificatePem is not a PEM X.509 certificate'],
    [add('enc-a', aCert, files.garbageKey), 'graph-relay: invalid encryption certificate "enc-a": privateKeyPem is not a PEM private key (encrypted keys are not supported)'],
    [[...add('enc-b', bBoth, bBoth), ...add('enc-a', aCert, files.otherKey)], 'graph-relay: invalid encryption certificate "enc-a": the private key does not belong to the certificate'],
  ])('refuses %j with exit code 2 before reaching AWS, never echoing key material', async (args, message) => {
    // Prepare
    const h = harness();

    // Act
    const result = await h.cli('integrations', 'put', 'contoso', ...args);

    // Assess
    expect(result).toEqual({ code: 2, stdout: [], stderr: [message] });
    expect(h.opened).toEqual([]);
  });
});

describe('certificates create', () => {
  it('generates an RSA-2048 certificate, stores it as the current entry with the other fields kept, and prints no key', async () => {
    // Prepare
    const h = harness();
    h.seed('contoso', { note: 'kept' });

    // Act
    const result = await h.cli('certificates', 'create', 'contoso');

    // Assess
    expect(result.code).toBe(0);
    expect(result.stderr).toEqual([]);
    const secret = h.secretOf('contoso');
    const id = secret['currentEncryptionCertificateId'] as string;
    expect(id).toMatch(/^graph-relay-\d{8}$/);
    const stored = (secret['encryptionCertificates'] as Record<string, { certificatePem: string; privateKeyPem: string; createdAt: string }>)[id];
    const x509 = new X509Certificate(stored?.certificatePem ?? '');
    expect(x509.subject).toBe('CN=graph-relay contoso');
    expect(x509.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(stored?.createdAt).toMatch(ISO);
    expect(secret).toMatchObject({ webhookSecret: WEBHOOK_SECRET, note: 'kept' });
    expect(integrationSecretSchema.safeParse(secret).success).toBe(true);
    const thumbprint = createHash('sha1').update(x509.raw).digest('hex').toUpperCase();
    expect(result.stdout).toEqual([
      `encryption certificate "${id}" created for integration "contoso" and made current`,
      `thumbprint  ${thumbprint}`,
      `not after   ${new Date(x509.validTo).toISOString()}`,
      'new rich subscriptions are created with it',
      TAKES_EFFECT.message,
    ]);
    expect(noKeyMaterial(result)).not.toMatch(/PRIVATE KEY|MII/);
  });

  it('adds a suffix when the default id is taken, and says the previous key keeps working until renewal', async () => {
    // Prepare
    const h = harness();
    h.seed('contoso', {});
    await h.cli('certificates', 'create', 'contoso');
    const first = h.secretOf('contoso')['currentEncryptionCertificateId'] as string;

    // Act
    const result = await h.cli('certificates', 'create', 'contoso');

    // Assess
    expect(result.code).toBe(0);
    const secret = h.secretOf('contoso');
    const second = secret['currentEncryptionCertificateId'] as string;
    expect(second).toMatch(new RegExp(`^${first}-[0-9a-f]{6}$`));
    expect(Object.keys(secret['encryptionCertificates'] as object).sort()).toEqual([first, second].sort());
    expect(result.stdout.at(-2)).toBe(`new rich subscriptions are created with it; existing ones keep working with the previous key ("${first}") until they are renewed`);
  });

  it('takes --id, --valid-days and --common-name, and prints only JSON with --json', async () => {
    // Prepare
    const h = harness();
    h.seed('contoso', { encryptionCertificates: { 'enc-a': entry(a) }, currentEncryptionCertificateId: 'enc-a' });

    // Act
    const result = await h.cli('certificates', 'create', 'contoso', '--id', 'enc-2026', '--valid-days', '30', '--common-name', 'Contoso rich notifications', '--json');

    // Assess
    expect(result.code).toBe(0);
    expect(result.stderr).toEqual([]);
    const printed = JSON.parse(result.stdout.join('\n')) as Record<string, string>;
    expect(Object.keys(printed).sort()).toEqual(['current', 'id', 'integrationId', 'notAfter', 'notBefore', 'previousCurrentId', 'takesEffect', 'thumbprint']);
    expect(printed['takesEffect']).toEqual(TAKES_EFFECT);
    expect(printed).toMatchObject({ integrationId: 'contoso', id: 'enc-2026', current: true, previousCurrentId: 'enc-a' });
    const secret = h.secretOf('contoso');
    expect(secret['currentEncryptionCertificateId']).toBe('enc-2026');
    const stored = (secret['encryptionCertificates'] as Record<string, { certificatePem: string }>)['enc-2026'];
    const x509 = new X509Certificate(stored?.certificatePem ?? '');
    expect(x509.subject).toBe('CN=Contoso rich notifications');
    // Valid from an hour before now (clock skew) to 30 days after.
    expect(Date.parse(x509.validTo) - Date.parse(x509.validFrom)).toBe((30 * 24 + 1) * 3_600_000);
    expect(printed['thumbprint']).toBe(createHash('sha1').update(x509.raw).digest('hex').toUpperCase());
    expect(printed['notAfter']).toBe(new Date(x509.validTo).toISOString());
  });

  it('refuses an id already stored, and an integration without a secret, with exit code 1', async () => {
    // Prepare
    const h = harness();
    h.seed('contoso', { encryptionCertificates: { 'enc-a': entry(a) } });
    const before = h.secrets.values.get(`${PREFIX}contoso`);

    // Act
    const taken = await h.cli('certificates', 'create', 'contoso', '--id', 'enc-a');
    const noSecret = await h.cli('certificates', 'create', 'fabrikam');

    // Assess
    expect(taken).toEqual({
      code: 1,
      stdout: [],
      stderr: ['graph-relay: integration "contoso" already has encryption certificate "enc-a": choose another --id, or leave it out for a generated one'],
    });
    expect(noSecret).toEqual({
      code: 1,
      stdout: [],
      stderr: [`graph-relay: integration "fabrikam" has no secret ${PREFIX}fabrikam: create it with graph-relay integrations put fabrikam`],
    });
    expect(h.secrets.values.get(`${PREFIX}contoso`)).toBe(before);
    expect(h.secrets.writes).toBe(0);
  });

  it.each([
    [['bad id!'], 'graph-relay: invalid integration id "bad id!": integration id must be 1-64 characters: letters, digits, ".", "_", "-"'],
    [['contoso', '--id', 'a b'], 'graph-relay: invalid --id "a b": encryption certificate id must be 1-128 characters: letters, digits, ".", "_", ":", "-"'],
    [['contoso', '--valid-days', '0'], 'graph-relay: invalid --valid-days "0": expected a whole number of days, e.g. 365'],
    [['contoso', '--valid-days', '1y'], 'graph-relay: invalid --valid-days "1y": expected a whole number of days, e.g. 365'],
    [['contoso', '--valid-days', '3651'], 'graph-relay: invalid --valid-days "3651": at most 3650 days'],
    [['contoso', '--common-name', 'x'.repeat(65)], `graph-relay: invalid --common-name "${'x'.repeat(65)}": common name must be at most 64 characters`],
  ])('refuses %j with exit code 2 before reaching AWS', async (args, message) => {
    // Prepare
    const h = harness();

    // Act
    const result = await h.cli('certificates', 'create', ...args);

    // Assess
    expect(result).toEqual({ code: 2, stdout: [], stderr: [message] });
    expect(h.opened).toEqual([]);
  });

  it('makes a key that decrypts what is encrypted with the listed certificate', async () => {
    // Prepare
    const h = harness();
    h.seed('contoso', {});
    await h.cli('certificates', 'create', 'contoso', '--id', 'enc-1');
    const listed = JSON.parse((await h.cli('certificates', 'list', 'contoso', '--json')).stdout.join('\n')) as { id: string; thumbprint: string }[];
    const stored = (h.secretOf('contoso')['encryptionCertificates'] as Record<string, { certificatePem: string }>)['enc-1'];
    const content = encryptContent({ id: 'user-1' }, { publicKey: new X509Certificate(stored?.certificatePem ?? '').publicKey, id: 'enc-1', thumbprint: listed[0]?.thumbprint });

    // Act
    const decrypted = decryptContent(content, encryptionKeysFrom(h.secretOf('contoso')).privateKey(content.encryptionCertificateId));

    // Assess
    expect(decrypted).toEqual({ id: 'user-1' });
  });
});

describe('certificates list', () => {
  it('shows id, current flag, thumbprint, expiry and status with the reason, never keys', async () => {
    // Prepare
    const h = harness();
    const expired = pair('expired', { validFrom: Date.UTC(2020, 0, 1), validTo: Date.UTC(2021, 0, 1) });
    h.seed('contoso', {
      encryptionCertificates: {
        'enc-b': entry(b, '2024-02-01T00:00:00.000Z'),
        'enc-a': entry(a, '2024-01-01T00:00:00.000Z'),
        expired: entry(expired),
        broken: { certificatePem: a.certificatePem, privateKeyPem: b.privateKeyPem },
      },
      currentEncryptionCertificateId: 'enc-a',
    });

    // Act
    const table = await h.cli('certificates', 'list', 'contoso');
    const json = await h.cli('certificates', 'list', 'contoso', '--json');

    // Assess
    expect(table.code).toBe(0);
    expect(table.stdout.map((line) => line.split(/ {2,}/))).toEqual([
      ['ID', 'CURRENT', 'THUMBPRINT', 'NOT AFTER', 'STATUS'],
      ['broken', 'no', a.thumbprint, a.notAfter.toISOString(), 'invalid: the private key does not belong to the certificate'],
      ['enc-a', 'yes', a.thumbprint, a.notAfter.toISOString(), 'valid'],
      ['enc-b', 'no', b.thumbprint, b.notAfter.toISOString(), 'valid'],
      ['expired', 'no', expired.thumbprint, '2021-01-01T00:00:00.000Z', 'expired: Graph refuses it for new subscriptions; its key still decrypts notifications of subscriptions created with it'],
    ]);
    const rows = JSON.parse(json.stdout.join('\n')) as Record<string, unknown>[];
    expect(rows.map((row) => [row['id'], row['current'], row['status']])).toEqual([
      ['broken', false, 'invalid'],
      ['enc-a', true, 'valid'],
      ['enc-b', false, 'valid'],
      ['expired', false, 'expired'],
    ]);
    expect(rows[1]).toEqual({
      id: 'enc-a',
      current: true,
      thumbprint: a.thumbprint,
      notBefore: a.notBefore.toISOString(),
      notAfter: a.notAfter.toISOString(),
      createdAt: '2024-01-01T00:00:00.000Z',
      status: 'valid',
    });
    expect(noKeyMaterial(table, json)).not.toMatch(/PRIVATE KEY|privateKey/);
  });

  it('marks the newest valid certificate current when none is named', async () => {
    // Prepare
    const h = harness();
    h.seed('contoso', { encryptionCertificates: { 'enc-a': entry(a, '2024-03-01T00:00:00.000Z'), 'enc-b': entry(b, '2024-02-01T00:00:00.000Z') } });

    // Act
    const result = await h.cli('certificates', 'list', 'contoso', '--json');

    // Assess
    expect((JSON.parse(result.stdout.join('\n')) as { id: string; current: boolean }[]).map((row) => [row.id, row.current])).toEqual([
      ['enc-a', true],
      ['enc-b', false],
    ]);
  });

  it('says how to start when there is none, and fails for an integration without a secret', async () => {
    // Prepare
    const h = harness();
    h.seed('contoso', {});

    // Act
    const empty = await h.cli('certificates', 'list', 'contoso');
    const noSecret = await h.cli('certificates', 'list', 'fabrikam', '--json');

    // Assess
    expect(empty).toEqual({ code: 0, stdout: ['integration "contoso" has no encryption certificates; create one with: graph-relay certificates create contoso'], stderr: [] });
    expect(noSecret).toEqual({
      code: 1,
      stdout: [],
      stderr: [`graph-relay: integration "fabrikam" has no secret ${PREFIX}fabrikam: create it with graph-relay integrations put fabrikam`],
    });
  });
});

describe('certificates remove', () => {
  it('removes a certificate that is not current, keeping the rest of the secret', async () => {
    // Prepare
    const h = harness();
    h.seed('contoso', { encryptionCertificates: { 'enc-a': entry(a), 'enc-b': entry(b) }, currentEncryptionCertificateId: 'enc-b', note: 'kept' });

    // Act
    const result = await h.cli('certificates', 'remove', 'contoso', 'enc-a');

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout[0]).toBe('encryption certificate "enc-a" removed from integration "contoso"');
    expect(result.stdout.at(-1)).toBe(TAKES_EFFECT.message);
    expect(h.secretOf('contoso')).toEqual({ webhookSecret: WEBHOOK_SECRET, encryptionCertificates: { 'enc-b': entry(b) }, currentEncryptionCertificateId: 'enc-b', note: 'kept' });
  });

  it('says in its JSON when the removal takes effect', async () => {
    // Prepare
    const h = harness();
    h.seed('contoso', { encryptionCertificates: { 'enc-a': entry(a), 'enc-b': entry(b) }, currentEncryptionCertificateId: 'enc-b' });

    // Act
    const result = await h.cli('certificates', 'remove', 'contoso', 'enc-a', '--json');

    // Assess
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout.join('\n'))).toEqual({ integrationId: 'contoso', removed: 'enc-a', currentId: 'enc-b', takesEffect: TAKES_EFFECT });
  });

  it('refuses the current one and a missing one with exit code 1, and a malformed id with exit code 2', async () => {
    // Prepare
    const h = harness();
    h.seed('contoso', { encryptionCertificates: { 'enc-a': entry(a), 'enc-b': entry(b) }, currentEncryptionCertificateId: 'enc-b' });
    const before = h.secrets.values.get(`${PREFIX}contoso`);

    // Act
    const current = await h.cli('certificates', 'remove', 'contoso', 'enc-b');
    const missing = await h.cli('certificates', 'remove', 'contoso', 'enc-x', '--json');
    const malformed = await h.cli('certificates', 'remove', 'contoso', 'enc x');

    // Assess
    expect(current).toEqual({
      code: 1,
      stdout: [],
      stderr: [
        'graph-relay: cannot remove encryption certificate "enc-b": it is the current one that new rich subscriptions use; make another current in the same command ' +
          '(graph-relay integrations put contoso --current-encryption-certificate <id> --remove-encryption-certificate enc-b)',
      ],
    });
    expect(missing).toEqual({ code: 1, stdout: [], stderr: ['graph-relay: cannot remove encryption certificate "enc-x": integration "contoso" has no such certificate'] });
    expect(malformed).toEqual({
      code: 2,
      stdout: [],
      stderr: ['graph-relay: invalid encryption certificate id "enc x": encryption certificate id must be 1-128 characters: letters, digits, ".", "_", ":", "-"'],
    });
    expect(h.secrets.values.get(`${PREFIX}contoso`)).toBe(before);
  });
});

describe('integrations list with encryption certificates', () => {
  it('shows how many certificates each secret holds and the current one, never keys', async () => {
    // Prepare
    const h = harness();
    for (const id of ['a-named', 'b-newest', 'c-none']) await h.integrations.putIntegration({ integrationId: id, provider: 'microsoft-oauth2-cc' });
    h.seed('a-named', { encryptionCertificates: { 'enc-a': entry(a), 'enc-b': entry(b) }, currentEncryptionCertificateId: 'enc-a' });
    h.seed('b-newest', { encryptionCertificates: { 'enc-a': entry(a, '2024-01-01T00:00:00.000Z'), 'enc-c': entry(c, '2024-05-01T00:00:00.000Z') } });
    h.seed('c-none', {});

    // Act
    const table = await h.cli('integrations', 'list');
    const json = await h.cli('integrations', 'list', '--json');

    // Assess
    expect(table.stdout.map((line) => line.split(/ {2,}/).slice(-2))).toEqual([
      ['ENCRYPTION CERTS', 'CURRENT CERT'],
      ['2', 'enc-a'],
      ['2', 'enc-c'],
      ['0', '-'],
    ]);
    expect((JSON.parse(json.stdout.join('\n')) as Record<string, unknown>[]).map((row) => [row['encryptionCertificates'], row['currentEncryptionCertificateId']])).toEqual([
      [2, 'enc-a'],
      [2, 'enc-c'],
      [0, undefined],
    ]);
    expect(noKeyMaterial(table, json)).not.toContain('PRIVATE KEY');
  });
});

describe('help', () => {
  it('documents the certificate commands and the encryption flags of integrations put', async () => {
    // Prepare
    const h = harness();

    // Act
    const group = await h.cli('certificates', '--help');
    const put = await h.cli('integrations', 'put', '--help');

    // Assess
    expect(group.code).toBe(0);
    expect(group.stdout.join('\n')).toMatch(/create \[options\] <integrationId>[\s\S]*list \[options\] <integrationId>[\s\S]*remove \[options\] <integrationId> <id>/);
    for (const flag of ['--encryption-certificate-id <id>', '--encryption-certificate-file <pem>', '--encryption-key-file <pem>', '--current-encryption-certificate <id>', '--remove-encryption-certificate <id>']) {
      expect(put.stdout.join('\n')).toContain(flag);
    }
  });
});
