import { z } from 'zod';
import { CommandFailedError, UsageError, formatTable, parseArg, reportError } from '../../cli/output';
import { ConnectionExistsError } from '../../shared/store/connections-store';

function capture() {
  const stderr: string[] = [];
  return { stderr, output: { out: () => undefined, err: (line: string) => stderr.push(line) } };
}

describe('formatTable', () => {
  it('aligns columns to the widest cell, upper-cases headers and trims trailing spaces', () => {
    // Act
    const lines = formatTable(['id', 'tenant'], [['a-long-id', ''], ['b', 'x']]);

    // Assess
    expect(lines).toEqual(['ID         TENANT', 'a-long-id', 'b          x']);
  });

  it('aligns by the width a terminal shows: wide characters take two columns, combining marks none', () => {
    // Act
    const lines = formatTable(['name', 'provider'], [['名前-long-name', 'a'], ['Zoe\u0308-e\u0301', 'b'], ['plain', 'c']]);

    // Assess
    expect(lines).toEqual(['NAME            PROVIDER', '名前-long-name  a', `Zoe\u0308-e\u0301${' '.repeat(11)}b`, 'plain           c']);
  });

  it('keeps each row on one line: line breaks and tabs in a cell are shown as spaces', () => {
    // Act
    const lines = formatTable(['id', 'reason'], [['a', 'first\nsecond\tthird'], ['long-id', 'x']]);

    // Assess
    expect(lines).toEqual(['ID       REASON', 'a        first second third', 'long-id  x']);
  });
});

describe('parseArg', () => {
  const schema = z.string().min(16, 'must be at least 16 characters');

  it('names the flag and echoes the value', () => {
    // Act
    const act = () => parseArg(schema, 'short', '--name');

    // Assess
    expect(act).toThrow(new UsageError('invalid --name "short": must be at least 16 characters'));
  });

  it('never echoes a secret', () => {
    // Act
    const act = () => parseArg(schema, 'hunter2', '--webhook-secret', { secret: true });

    // Assess
    expect(act).toThrow(new UsageError('invalid --webhook-secret: must be at least 16 characters'));
  });
});

describe('reportError', () => {
  it.each([
    [new UsageError('bad flag'), 2, 'graph-relay: bad flag'],
    [new CommandFailedError('not found'), 1, 'graph-relay: not found'],
    [new ConnectionExistsError('i', 'c'), 1, 'graph-relay: connection "c" already exists in integration "i"'],
    [Object.assign(new Error('User is not authorized'), { name: 'AccessDeniedException' }), 1, 'graph-relay: AccessDeniedException: User is not authorized'],
    [new AggregateError([new Error('connect ECONNREFUSED ::1:8000'), new Error('connect ECONNREFUSED 127.0.0.1:8000')]), 1,
      'graph-relay: connect ECONNREFUSED ::1:8000; connect ECONNREFUSED 127.0.0.1:8000'],
    [new Error('first line\n    at stack (file.ts:1:1)'), 1, 'graph-relay: first line at stack (file.ts:1:1)'],
    ['a thrown string', 1, 'graph-relay: a thrown string'],
  ])('prints %p as one line with the right exit code', (error, code, line) => {
    // Prepare
    const { stderr, output } = capture();

    // Act
    const exitCode = reportError(output, error);

    // Assess
    expect(exitCode).toBe(code);
    expect(stderr).toEqual([line]);
  });
});
