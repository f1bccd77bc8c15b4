/**
 * A region that loses the Graph writer lease during a run: its fence refuses the next Graph request
 * (WriterLeaseLostError, nothing sent). Renewal leaves the subscriptions due and reconcile defers the changes, both
 * recording no failure, so the writer does the work on its own runs.
 */
import { WriterLeaseLostError } from '../../shared/leadership/writer-gate';
import { reconcile } from '../../shared/subscriptions/reconcile';
import { harness, record as dueRecord, run } from '../support/renewal-harness';
import { connection, world } from '../support/reconcile-world';

describe('the writer lease lost during a run', () => {
  it('renewal: every due subscription left as it was (deferred), none marked failed or needing consent', async () => {
    // Prepare
    const records = [dueRecord(), dueRecord()];
    const h = harness(records);
    h.graph.patchAnswer = () => new WriterLeaseLostError('eu-west-1 does not hold the Graph writer lease (us-east-1 does): Graph request not sent');

    // Act
    const report = await run(h);

    // Assess
    expect(report).toMatchObject({ due: 2, renewed: 0, failed: 0, needsConsent: 0, deferred: 2 });
    for (const r of records) expect(h.store.get(r.subscriptionId)).toEqual(r);
    expect(h.events).toEqual([]);
  });

  it('reconcile: the creates deferred, no create failure recorded on the connection', async () => {
    // Prepare
    const w = world({ connections: [connection({ subscriptions: ['users:created,updated', 'groups:updated'] })] });
    const recordCreateFailure = jest.fn(async () => true);
    w.ports.createFailures = { recordCreateFailure, clearCreateFailure: jest.fn(async () => true) };
    w.graph.answers.create.push(new WriterLeaseLostError('the writer lease of eu-west-1 ends before a Graph request could end: not sent'));

    // Act
    const report = await reconcile(w.ports, { dryRun: false, deadline: w.deadline });

    // Assess
    expect(report.failed).toEqual([]);
    expect(report.deferred).toHaveLength(2);
    expect(report.created).toEqual([]);
    expect(recordCreateFailure).not.toHaveBeenCalled();
    expect(w.store.records.size).toBe(0);
  });
});
