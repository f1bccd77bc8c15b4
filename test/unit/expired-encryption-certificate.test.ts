/**
 * An expired current encryption certificate: Graph refuses it for a new subscription and for a move to it, so the
 * reconciler, renewal and lifecycle handling refuse it first, without a Graph call, naming the command that makes a
 * new one. A renewal that does not send it (the subscription already has it) goes on.
 */
import { SUBSCRIPTION_DETAIL_TYPES } from '../../shared/events/subscription-events';
import { MissingEncryptionCertificateError } from '../../shared/subscriptions/integration-graphs';
import { handleLifecycleEvent } from '../../shared/subscriptions/lifecycle';
import { reconcile } from '../../shared/subscriptions/reconcile';
import * as lifecycle from '../support/lifecycle-world';
import * as reconcileWorld from '../support/reconcile-world';
import * as renewal from '../support/renewal-harness';

const MESSAGES = 'users/8a1d4c2e-5b6f-4e7a-9c8d-0e1f2a3b4c5d/messages';
/** Expired a day before every world's NOW (2026-03-01T12:00Z). */
const EXPIRED = { id: 'enc-expired', certificateBase64: 'MII-expired-der', notAfter: new Date('2026-02-28T12:00:00Z') };
const VALID = { id: 'enc-valid', certificateBase64: 'MII-valid-der', notAfter: new Date('2027-03-01T00:00:00Z') };
const REFUSAL = /^integration "contoso" cannot have subscriptions with resource data: the current encryption certificate "enc-expired" expired 2026-02-28T12:00:00\.000Z; create one with: graph-relay certificates create contoso$/;

describe('an expired current encryption certificate', () => {
  it('fails the reconciler\'s rich create as missing-credentials without a Graph call', async () => {
    // Prepare
    const w = reconcileWorld.world({ connections: [reconcileWorld.connection({ subscriptions: [`${MESSAGES}:created;includeResourceData`] })] });
    w.ports.encryptionCertificateOf = async () => EXPIRED;
    // Act
    const report = await reconcile(w.ports, { dryRun: false, deadline: w.deadline });
    // Assess
    expect(report.failed).toEqual([expect.objectContaining({ reason: 'missing-credentials', message: expect.stringMatching(REFUSAL) })]);
    expect(w.graph.calls).toEqual([]);
  });

  it('fails a renewal that would move the subscription to it, without a Graph call', async () => {
    // Prepare
    const sub = renewal.record({ resource: MESSAGES, changeTypes: ['created'], includeResourceData: true, encryptionCertificateId: VALID.id });
    const h = renewal.harness([sub], { encryptionCertificateOf: async () => EXPIRED });
    // Act
    const report = await renewal.run(h);
    // Assess
    expect(report).toMatchObject({ renewed: 0, failed: 1 });
    expect(h.graph.patches).toEqual([]);
    expect(h.events.map((e) => [e.detailType, e.detail.failure?.reason, e.detail.failure?.message])).toEqual([
      [SUBSCRIPTION_DETAIL_TYPES.renewalFailed, 'missing-credentials', expect.stringMatching(REFUSAL)],
    ]);
  });

  it('still renews a subscription that already has it: the PATCH does not send it', async () => {
    // Prepare
    const sub = renewal.record({ resource: MESSAGES, changeTypes: ['created'], includeResourceData: true, encryptionCertificateId: EXPIRED.id });
    const h = renewal.harness([sub], { encryptionCertificateOf: async () => EXPIRED });
    // Act
    const report = await renewal.run(h);
    // Assess
    expect(report).toMatchObject({ renewed: 1, failed: 0 });
    expect(h.graph.patches).toEqual([expect.not.objectContaining({ encryptionCertificate: expect.anything() })]);
  });

  it('fails the lifecycle recreation of a removed rich subscription without a Graph call', async () => {
    // Prepare
    const w = lifecycle.world({ records: [lifecycle.record({ resource: MESSAGES, changeTypes: ['created'], includeResourceData: true, encryptionCertificateId: EXPIRED.id })] });
    w.ports.encryptionCertificateOf = async () => EXPIRED;
    // Act
    const handled = handleLifecycleEvent(w.ports, lifecycle.busEvent('subscriptionRemoved'));
    // Assess
    await expect(handled).rejects.toThrow(MissingEncryptionCertificateError);
    expect(w.calls).toEqual([]);
    expect(w.published.map((e) => [e.detailType, e.detail.failure?.reason])).toEqual([[SUBSCRIPTION_DETAIL_TYPES.renewalFailed, 'missing-credentials']]);
  });
});
