/** The faults phase reads the markers the intake reports as not written from the stack's own log lines. */
import { staleSecretUses, unwrittenMarkers } from '../reliability/faults';

describe('unwrittenMarkers', () => {
  test('sums the markers field of every "redelivery markers not written" log line, and nothing else', () => {
    // Prepare
    const log = [
      'graph-relay listening on http://127.0.0.1:3000',
      JSON.stringify({ level: 'WARN', message: 'redelivery markers not written; a redelivery may be published twice', integrationId: 'a', markers: 7, error: 'TimeoutError' }),
      'POST /webhook/a 503 1201.3 ms',
      JSON.stringify({ level: 'INFO', message: 'notifications processed', published: 12 }),
      JSON.stringify({ level: 'WARN', message: 'redelivery markers not written; a redelivery may be published twice', integrationId: 'b', markers: 3 }),
      'reliability: a progress line quoting "redelivery markers not written" is not the product\'s report',
    ].join('\n');

    // Act / Assess
    expect(unwrittenMarkers(log)).toBe(10);
    expect(unwrittenMarkers('')).toBe(0);
  });
});

describe('staleSecretUses', () => {
  test('counts the intake\'s JSON warnings that it used the last secret, not other lines', () => {
    const log = [
      JSON.stringify({ level: 'WARN', message: 'webhook secret could not be read; using the one read before', integrationId: 'a', ageSeconds: 3 }),
      JSON.stringify({ level: 'WARN', message: 'webhook secret could not be read; using the one read before', integrationId: 'b', ageSeconds: 4 }),
      'progress: webhook secret could not be read; using the one read before',
      JSON.stringify({ level: 'INFO', message: 'notifications processed' }),
    ].join('\n');

    expect(staleSecretUses(log)).toBe(2);
  });
});
