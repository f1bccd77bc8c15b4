/**
 * RefusalTally: refused requests reported at most once per window and bucket, unknown ids in one bucket.
 */
import { RefusalTally, UNKNOWN_INTEGRATION_BUCKET, type RefusalReason } from '../../shared/intake/refusal-tally';

const WINDOW_SECONDS = 60;
const T0 = Date.parse('2026-12-05T10:00:00.000Z');

/** A tally on a clock the test moves. */
function tally(): { tally: RefusalTally; at(ms: number): void } {
  let now = T0;
  return { tally: new RefusalTally({ windowSeconds: WINDOW_SECONDS, now: () => now }), at: (ms) => (now = T0 + ms) };
}

function known(integrationId: string, reason: RefusalReason = 'clientstate-mismatch', items = 1) {
  return { integrationId, known: true, reason, items };
}

function unknown(integrationId: string, items = 1) {
  return { integrationId, known: false, reason: 'unknown-integration' as const, items };
}

describe('RefusalTally', () => {
  it("reports a bucket's first refusal at once", () => {
    // Prepare
    const { tally: t } = tally();

    // Act
    const report = t.add(known('contoso', 'clientstate-mismatch', 3));

    // Assess
    expect(report).toEqual({
      bucket: 'contoso',
      requests: 1,
      items: 3,
      reasons: { 'clientstate-mismatch': 1 },
      sampleIds: [],
      firstAt: '2026-12-05T10:00:00.000Z',
      lastAt: '2026-12-05T10:00:00.000Z',
    });
  });

  it('reports nothing more within the window', () => {
    // Prepare
    const clock = tally();
    clock.tally.add(known('contoso'));

    // Act
    const reports = [1_000, 30_000, WINDOW_SECONDS * 1000 - 1].map((ms) => {
      clock.at(ms);
      return clock.tally.add(known('contoso'));
    });

    // Assess
    expect(reports).toEqual([undefined, undefined, undefined]);
  });

  it('after the window, reports what was refused since the last report, reasons summed', () => {
    // Prepare
    const clock = tally();
    clock.tally.add(known('contoso'));
    clock.at(10_000);
    clock.tally.add(known('contoso', 'clientstate-mismatch', 2));
    clock.at(20_000);
    clock.tally.add(known('contoso', 'clientstate-unconfirmed', 4));

    // Act
    clock.at(WINDOW_SECONDS * 1000);
    const report = clock.tally.add(known('contoso', 'clientstate-mismatch', 1));

    // Assess
    expect(report).toMatchObject({
      bucket: 'contoso',
      requests: 3,
      items: 7,
      reasons: { 'clientstate-mismatch': 2, 'clientstate-unconfirmed': 1 },
      lastAt: '2026-12-05T10:01:00.000Z',
    });
  });

  it('counts each bucket apart: a refusal of another integration is reported at once', () => {
    // Prepare
    const { tally: t } = tally();
    t.add(known('contoso'));

    // Act
    const other = t.add(known('fabrikam', 'no-webhook-secret'));

    // Assess
    expect(other).toMatchObject({ bucket: 'fabrikam', requests: 1, reasons: { 'no-webhook-secret': 1 } });
  });

  it('puts every unknown id in one bucket, with at most 5 distinct sample ids', () => {
    // Prepare
    const clock = tally();
    const first = clock.tally.add(unknown('a'));
    const within = ['b', 'b', 'c', 'd', 'e', 'f', 'g'].map((id) => clock.tally.add(unknown(id)));

    // Act
    clock.at(WINDOW_SECONDS * 1000);
    const report = clock.tally.add(unknown('h'));

    // Assess
    expect(first).toMatchObject({ bucket: UNKNOWN_INTEGRATION_BUCKET, requests: 1, sampleIds: ['a'], reasons: { 'unknown-integration': 1 } });
    expect(within.every((r) => r === undefined)).toBe(true);
    expect(report).toMatchObject({ bucket: UNKNOWN_INTEGRATION_BUCKET, requests: 8, items: 8, reasons: { 'unknown-integration': 8 } });
    expect(report?.sampleIds).toEqual(['b', 'c', 'd', 'e', 'f']);
  });

  it('keeps no sample ids for a known integration', () => {
    // Prepare
    const { tally: t } = tally();

    // Act
    const report = t.add(known('contoso'));

    // Assess
    expect(report?.sampleIds).toEqual([]);
  });

  it('keeps at most 1000 buckets: beyond, the first one is forgotten and its next refusal is reported as a first', () => {
    // Prepare
    const clock = tally();
    for (let i = 0; i < 1000; i += 1) clock.tally.add(known(`int-${i}`));
    clock.tally.add(known('int-1000'));

    // Act
    clock.at(1_000);
    const forgotten = clock.tally.add(known('int-0'));
    const remembered = clock.tally.add(known('int-2'));

    // Assess
    expect(forgotten).toMatchObject({ bucket: 'int-0', requests: 1 });
    expect(remembered).toBeUndefined();
  });

  it('reports refusals left inside a window once it has passed, at the next takeDue, and nothing before', () => {
    // Prepare: one refusal reported at once, 50 more inside the window, then silence
    const clock = tally();
    clock.tally.add(known('contoso'));
    for (let i = 1; i <= 50; i += 1) {
      clock.at(i * 1000);
      clock.tally.add(known('contoso', 'clientstate-mismatch', 2));
    }

    // Act
    clock.at(WINDOW_SECONDS * 1000 - 1);
    const early = clock.tally.takeDue();
    clock.at(WINDOW_SECONDS * 1000);
    const due = clock.tally.takeDue();
    const again = clock.tally.takeDue();

    // Assess: the second report covers the 50, from the first of them to the last
    expect(early).toEqual([]);
    expect(due).toEqual([
      {
        bucket: 'contoso',
        requests: 50,
        items: 100,
        reasons: { 'clientstate-mismatch': 50 },
        sampleIds: [],
        firstAt: '2026-12-05T10:00:01.000Z',
        lastAt: '2026-12-05T10:00:50.000Z',
      },
    ]);
    expect(again).toEqual([]);
  });

  it('forgets the bucket refused least recently at the cap, not the one created first', () => {
    // Prepare: int-0 is created first but refused again last
    const clock = tally();
    for (let i = 0; i < 1000; i += 1) clock.tally.add(known(`int-${i}`));
    clock.at(1_000);
    clock.tally.add(known('int-0'));

    // Act: a new bucket pushes one out
    clock.tally.add(known('int-new'));
    const int0 = clock.tally.add(known('int-0'));
    const int1 = clock.tally.add(known('int-1'));

    // Assess: int-0 is still inside its window; int-1 was forgotten and is reported as a first refusal
    expect(int0).toBeUndefined();
    expect(int1).toMatchObject({ bucket: 'int-1', requests: 1 });
  });
});
