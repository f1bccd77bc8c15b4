/**
 * RequestLog: whatever a request holds, its notes stay a few and become one log line.
 */
import { MAX_REQUEST_NOTES, RequestLog } from '../../shared/intake/request-log';

describe('RequestLog', () => {
  it(`keeps the first ${MAX_REQUEST_NOTES} notes in order and counts the rest`, () => {
    // Prepare
    const log = new RequestLog();

    // Act
    for (let i = 0; i < MAX_REQUEST_NOTES + 3; i += 1) log.info(`note ${i}`, { i });

    // Assess
    expect(log.notes.map((note) => note.message)).toEqual(Array.from({ length: MAX_REQUEST_NOTES }, (_, i) => `note ${i}`));
    expect(log.dropped).toBe(3);
    expect(log.summary().moreNotes).toBe(3);
  });

  it('has no moreNotes when nothing was dropped, and no notes at all when nothing was logged', () => {
    // Prepare
    const empty = new RequestLog();
    const full = new RequestLog();
    for (let i = 0; i < MAX_REQUEST_NOTES; i += 1) full.info('note', {});

    // Act
    const summaries = [empty.summary(), full.summary()];

    // Assess
    expect(summaries[0]).toEqual({ notes: [] });
    expect(summaries[1]).not.toHaveProperty('moreNotes');
    expect(summaries[1]?.notes).toHaveLength(MAX_REQUEST_NOTES);
  });

  it('takes the highest level seen, including that of a dropped note, and never lowers it', () => {
    // Prepare
    const log = new RequestLog();
    for (let i = 0; i < MAX_REQUEST_NOTES; i += 1) log.info('note', {});
    const before = log.level;

    // Act
    log.error('beyond the kept notes', {});
    log.warn('after the error', {});
    log.info('after the warning', {});

    // Assess
    expect(before).toBe('info');
    expect(log.level).toBe('error');
  });

  it('takes warn over info', () => {
    // Prepare
    const log = new RequestLog();

    // Act
    log.info('a', {});
    log.warn('b', {});
    log.info('c', {});

    // Assess
    expect(log.level).toBe('warn');
  });

  it('summarises each note as level, message and fields, without the integrationId the line already carries', () => {
    // Prepare
    const log = new RequestLog();

    // Act
    log.warn('notifications refused', { integrationId: 'contoso', items: 2, index: 0, reason: 'tenantId: required' });

    // Assess
    expect(log.summary()).toEqual({ notes: [{ level: 'warn', message: 'notifications refused', items: 2, index: 0, reason: 'tenantId: required' }] });
    expect(log.notes[0]?.fields).toHaveProperty('integrationId', 'contoso');
  });
});
