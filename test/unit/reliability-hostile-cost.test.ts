/**
 * The measuring tools of the hostile phase's cost figures (test/reliability/hostile-cost.ts): bodies filled to just
 * under a limit, and the log a batch wrote between its sentinel lines.
 */
import { fillBody, logBetween } from '../reliability/hostile-cost';

describe('fillBody', () => {
  it('fills a collection with as many items as fit under the limit, and stays valid JSON', () => {
    // Prepare
    const limit = 1_000;

    // Act
    const junk = fillBody(limit, () => '0');
    const items = fillBody(limit, (i) => JSON.stringify({ id: i }));

    // Assess
    expect(junk.length).toBeLessThanOrEqual(limit);
    expect(junk.length).toBeGreaterThan(limit - 2);
    expect((JSON.parse(junk.toString()) as { value: number[] }).value.every((v) => v === 0)).toBe(true);
    expect(items.length).toBeLessThanOrEqual(limit);
    expect(items.length).toBeGreaterThan(limit - JSON.stringify({ id: 999 }).length - 1);
    expect(Array.isArray((JSON.parse(items.toString()) as { value: unknown[] }).value)).toBe(true);
  });
});

describe('logBetween', () => {
  const intake = (message: string, id = 'x') => JSON.stringify({ level: 'WARN', message, service: 'graph-relay-intake', correlation_id: id });

  it('counts the lines between the start and end sentinels, leaving out other functions but not the access log', () => {
    // Prepare
    const lifecycle = JSON.stringify({ level: 'WARN', message: 'token request failed', service: 'graph-relay-lifecycle' });
    const inside = [intake('webhook requests refused'), 'POST /webhook/made-up 403 1.0 ms', lifecycle];
    const text = ['before', intake('notifications processed', 'start-1'), ...inside, intake('notifications processed', 'end-1'), 'after', ''].join('\n');

    // Act
    const window = logBetween(text, ['start-1'], ['end-1']);

    // Assess
    expect(window).toEqual({
      bytes: Buffer.byteLength(`${inside[0]}\n${inside[1]}\n`),
      intakeLines: 1,
      otherBytes: Buffer.byteLength(`${lifecycle}\n`),
    });
  });

  it('measures what one request per item would write, and refuses a window without both ends', () => {
    // Prepare: the intake before hardening logged a line per refused item
    const perItem = Array.from({ length: 1_000 }, (_, i) => intake(`value[${i}] refused: clientState does not match`));
    const text = [intake('s', 'start-2'), ...perItem, intake('e', 'end-2')].join('\n');

    // Act
    const window = logBetween(text, ['start-2'], ['end-2']);

    // Assess
    expect(window?.intakeLines).toBe(1_000);
    expect(window?.bytes).toBeGreaterThan(1024 * 50);
    expect(logBetween(text, ['start-2'], ['missing'])).toBeUndefined();
    expect(logBetween(text, ['missing'], ['end-2'])).toBeUndefined();
  });
});
