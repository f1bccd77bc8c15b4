/**
 * The reconciler remembers, on the connection, each declaration it could not create (Graph's or the token
 * endpoint's last error, the failed runs in a row), so `doctor` can name it; a later successful create clears it.
 */
import { reconcile, type ReconcilePorts } from '../../shared/subscriptions/reconcile';
import { planReconcile } from '../../shared/subscriptions/reconcile-plan';
import { connection, graphError, world } from '../support/reconcile-world';

function recorder() {
  const recorded: { integrationId: string; connectionId: string; declaration: string; error: string }[] = [];
  const cleared: { integrationId: string; connectionId: string; declaration: string }[] = [];
  const port: NonNullable<ReconcilePorts['createFailures']> = {
    recordCreateFailure: async (integrationId, connectionId, declaration, error) => {
      recorded.push({ integrationId, connectionId, declaration, error });
      return true;
    },
    clearCreateFailure: async (integrationId, connectionId, declaration) => {
      cleared.push({ integrationId, connectionId, declaration });
      return true;
    },
  };
  return { port, recorded, cleared };
}

describe('reconcile: create failures are recorded on the connection', () => {
  it('records the error of a create Graph refused, by the declaration it was for', async () => {
    // Prepare
    const w = world({ connections: [connection({ subscriptions: ['users:created,updated', 'groups:updated'] })] });
    w.graph.answers.create.push(graphError('POST', 400, 'Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.'));
    const failures = recorder();

    // Act
    const report = await reconcile({ ...w.ports, createFailures: failures.port }, { dryRun: false, deadline: w.deadline });

    // Assess
    expect(report.counts.failed).toBe(1);
    expect(failures.recorded).toEqual([
      {
        integrationId: 'contoso',
        connectionId: 'conn-1',
        declaration: expect.stringMatching(/^(users:created,updated|groups:updated)$/),
        error: expect.stringContaining('Notification endpoint must respond with 200 OK to validation request.'),
      },
    ]);
    expect(failures.cleared).toEqual([]);
  });

  it('clears the recorded failure once the subscription is created', async () => {
    // Prepare: the last run failed for users
    const failed = { 'users:created,updated': { error: 'Graph 400: validation failed', attempts: 5, at: '2026-03-01T11:00:00.000Z' } };
    const w = world({ connections: [connection({ subscriptions: ['users:created,updated'], createFailures: failed })] });
    const failures = recorder();

    // Act
    const report = await reconcile({ ...w.ports, createFailures: failures.port }, { dryRun: false, deadline: w.deadline });

    // Assess
    expect(report.counts.created).toBe(1);
    expect(failures.cleared).toEqual([{ integrationId: 'contoso', connectionId: 'conn-1', declaration: 'users:created,updated' }]);
    expect(failures.recorded).toEqual([]);
  });

  it("carries the connection's recorded failure in the plan of the create, for doctor", () => {
    // Prepare
    const failed = { 'users:created,updated': { error: 'Graph 400: validation failed', attempts: 5, at: '2026-03-01T11:00:00.000Z' } };

    // Act
    const plan = planReconcile({ integrationId: 'contoso', connections: [connection({ subscriptions: ['/users:updated,created', 'groups:updated'], createFailures: failed })], unreadableConnectionIds: [], subscriptions: [] });

    // Assess
    expect(plan.create.map((c) => [c.resource, c.lastFailure])).toEqual([
      ['users', failed['users:created,updated']],
      ['groups', undefined],
    ]);
  });
});
