/**
 * `doctor`'s checks against fakes at the context's ports: the cases the local stack cannot easily produce.
 */
import { runChecks } from '../../cli/commands/doctor';
import type { CommandContext, RenewalScheduleStatus } from '../../cli/context';
import { createSelfSignedCertificate } from '../../cli/self-signed-certificate';

const NOW = new Date('2026-11-25T12:00:00Z');
const DAY = 86_400_000;

function context(secret: Record<string, unknown>, schedule: RenewalScheduleStatus): CommandContext {
  return {
    target: { region: 'us-east-1', connectionsTable: 't', webhookSecretPrefix: 'p/', webhookBaseUrl: 'https://relay.example/webhook/' },
    store: {
      listIntegrations: async () => ({ integrations: [{ integrationId: 'contoso', provider: 'p', createdAt: '', updatedAt: '' }], invalidItems: [] }),
      listConnections: async () => ({ connections: [], invalidItems: [] }),
    },
    subscriptions: { listByIntegration: async () => ({ subscriptions: [], invalidItems: [] }) },
    secrets: { read: async () => JSON.stringify(secret) },
    renewalSchedule: { status: async () => schedule },
  } as unknown as CommandContext;
}

/** Answers the handshake as Graph requires. */
const echo: typeof fetch = async (input) => {
  const token = new URL(String(input)).searchParams.get('validationToken') ?? '';
  return new Response(token, { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' } });
};

describe('doctor checks', () => {
  it('fails an encryption certificate expiring within 30 days, and one already expired', async () => {
    // Prepare
    const soon = createSelfSignedCertificate({ commonName: 'soon', validFrom: NOW.getTime() - 300 * DAY, validTo: NOW.getTime() + 10 * DAY });
    const expired = createSelfSignedCertificate({ commonName: 'old', validFrom: NOW.getTime() - 400 * DAY, validTo: NOW.getTime() - DAY });
    const secret = {
      webhookSecret: 'doctor-webhook-secret-0123456789',
      clientId: '3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b',
      clientSecret: 'Abc8Q~very.secret_value-1234567890abcdefgh',
      currentEncryptionCertificateId: 'soon',
      encryptionCertificates: {
        soon: { certificatePem: soon.certificatePem, privateKeyPem: soon.privateKeyPem },
        old: { certificatePem: expired.certificatePem, privateKeyPem: expired.privateKeyPem },
      },
    };

    // Act
    const checks = await runChecks(context(secret, { state: 'enabled', description: 'on' }), { fetch: echo, now: () => NOW });

    // Assess
    expect(checks.filter((c) => !c.ok)).toEqual([
      { check: 'encryption certificate contoso/old', ok: false, detail: expect.stringMatching(/^expired 2026-11-24T/), fix: 'graph-relay certificates create contoso' },
      {
        check: 'encryption certificate contoso/soon (current)',
        ok: false,
        detail: expect.stringMatching(/^expires 2026-12-05T.*, in 10 days \(under 30\)$/),
        fix: 'graph-relay certificates create contoso (rich subscriptions move to it as they renew)',
      },
    ]);
  });

  it('says plainly when the stack has no RenewalScheduleName output', async () => {
    // Prepare
    const problem = 'stack GraphRelay-dev has no output RenewalScheduleName (older deployment, or names given as flags): redeploy it';

    // Act
    const checks = await runChecks(context({ webhookSecret: 'doctor-webhook-secret-0123456789' }, { state: 'unknown', problem }), { fetch: echo, now: () => NOW });

    // Assess
    expect(checks[0]).toEqual({ check: 'renewal schedule', ok: false, detail: problem });
    expect(checks.find((c) => c.check === 'webhook handshake contoso')).toMatchObject({ ok: true });
    expect(checks.find((c) => c.check === 'app credentials contoso')).toMatchObject({ ok: true, warning: true, detail: expect.stringMatching(/^none: webhook only/) });
  });
});
