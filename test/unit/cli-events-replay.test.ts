/**
 * `events replay`: argument validation, and the command against a fake ReplayAccess (EventBridge's side).
 */
import type { CommandContext, ReplayAccess, ReplayStatus } from '../../cli/context';
import { LOCAL_REPLAY_MESSAGE, parseReplayEventsArgs, replayEvents, replayNameFor } from '../../cli/commands/events';
import { CommandFailedError, UsageError } from '../../cli/output';

const NOW = new Date('2026-11-25T12:00:00Z');
const ARCHIVE = 'arn:aws:events:us-east-1:123456789012:archive/NotificationArchive';
const BUS = 'arn:aws:events:us-east-1:123456789012:event-bus/graph-relay-prod';

function capture() {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, output: { out: (line: string) => stdout.push(line), err: (line: string) => stderr.push(line) } };
}

function fakeReplays(statuses: ReplayStatus[]) {
  const started: Parameters<ReplayAccess['start']>[0][] = [];
  const replays: ReplayAccess = {
    archive: async () => ({ archiveArn: ARCHIVE, eventBusArn: BUS }),
    ruleArn: async (name) => `arn:aws:events:us-east-1:123456789012:rule/graph-relay-prod/${name}`,
    start: async (input) => {
      started.push(input);
      return { replayArn: `arn:aws:events:us-east-1:123456789012:replay/${input.replayName}`, state: 'STARTING' };
    },
    describe: async () => {
      const next = statuses.shift();
      if (next === undefined) throw new Error('described more often than the test expected');
      return next;
    },
  };
  return { replays, started, context: { replays } as unknown as CommandContext };
}

describe('events replay arguments', () => {
  it('parses ISO times with a zone', () => {
    // Act
    const args = parseReplayEventsArgs({ from: '2026-11-25T08:00:00+01:00', to: '2026-11-25T09:00:00Z', rule: 'orders' }, NOW);

    // Assess
    expect(args).toEqual({ from: new Date('2026-11-25T07:00:00Z'), to: new Date('2026-11-25T09:00:00Z'), rule: 'orders', wait: false, json: false });
  });

  it.each([
    [{ from: 'yesterday', to: '2026-11-25T09:00:00Z' }, 'invalid --from "yesterday": expected an ISO 8601 time with a zone, e.g. 2026-11-25T08:00:00Z'],
    [{ from: '2026-11-25T08:00:00', to: '2026-11-25T09:00:00Z' }, 'invalid --from "2026-11-25T08:00:00": expected an ISO 8601 time with a zone, e.g. 2026-11-25T08:00:00Z'],
    [{ from: '2026-11-25T09:00:00Z', to: '2026-11-25T09:00:00Z' }, '--from (2026-11-25T09:00:00.000Z) must be before --to (2026-11-25T09:00:00.000Z)'],
    [{ from: '2026-11-25T09:00:00Z', to: '2026-11-25T13:00:00Z' }, '--to (2026-11-25T13:00:00.000Z) is in the future: the archive holds only events up to now (2026-11-25T12:00:00.000Z)'],
    [{ from: '2026-11-25T08:00:00Z', to: '2026-11-25T09:00:00Z', rule: 'no spaces allowed' }, 'invalid --rule "no spaces allowed": a rule name is 1-64 letters, digits, ".", "-" and "_"'],
  ])('refuses %j as a usage error', (options, message) => {
    // Act
    const parse = () => parseReplayEventsArgs(options, NOW);

    // Assess
    expect(parse).toThrow(UsageError);
    expect(parse).toThrow(message);
  });

  it('names replays as EventBridge allows, after the start of the range', () => {
    // Act
    const name = replayNameFor(new Date('2026-11-25T08:00:00Z'));

    // Assess
    expect(name).toMatch(/^graph-relay-20261125T080000Z-[0-9a-f]{6}$/);
    expect(name.length).toBeLessThanOrEqual(64);
  });
});

describe('events replay', () => {
  const args = parseReplayEventsArgs({ from: '2026-11-25T08:00:00Z', to: '2026-11-25T10:00:00Z' }, NOW);

  it('starts a replay from the archive to the bus and prints its name, ARN and state', async () => {
    // Prepare
    const { context, started } = fakeReplays([]);
    const { stdout, stderr, output } = capture();

    // Act
    await replayEvents(context, args, output, { replayName: 'graph-relay-test' });

    // Assess
    expect(started).toEqual([{ replayName: 'graph-relay-test', archiveArn: ARCHIVE, eventBusArn: BUS, from: args.from, to: args.to, ruleArns: [] }]);
    expect(stdout).toEqual([
      'replay graph-relay-test: STARTING',
      'arn: arn:aws:events:us-east-1:123456789012:replay/graph-relay-test',
      `events of 2026-11-25T08:00:00.000Z to 2026-11-25T10:00:00.000Z from ${ARCHIVE} onto ${BUS}`,
    ]);
    expect(stderr).toEqual(['graph-relay: follow it with: aws events describe-replay --replay-name graph-relay-test']);
  });

  it('replays to one rule with --rule, and waits with progress on stderr until COMPLETED', async () => {
    // Prepare
    const { context, started } = fakeReplays([
      { state: 'STARTING' },
      { state: 'RUNNING', lastReplayedAt: new Date('2026-11-25T09:00:00Z') },
      { state: 'COMPLETED', lastReplayedAt: new Date('2026-11-25T10:00:00Z') },
    ]);
    const { stdout, stderr, output } = capture();
    const pauses: number[] = [];

    // Act
    await replayEvents(context, { ...args, rule: 'orders', wait: true, json: true }, output, {
      replayName: 'graph-relay-test',
      pollMs: 1234,
      sleep: async (ms) => void pauses.push(ms),
    });

    // Assess
    expect(started[0]?.ruleArns).toEqual(['arn:aws:events:us-east-1:123456789012:rule/graph-relay-prod/orders']);
    expect(stderr).toEqual([
      'graph-relay: replay graph-relay-test: STARTING',
      'graph-relay: replay graph-relay-test: RUNNING, 50% (replayed up to 2026-11-25T09:00:00.000Z)',
    ]);
    expect(pauses).toEqual([1234, 1234]);
    expect(JSON.parse(stdout.join('\n'))).toEqual({
      replayName: 'graph-relay-test',
      replayArn: 'arn:aws:events:us-east-1:123456789012:replay/graph-relay-test',
      state: 'COMPLETED',
      from: '2026-11-25T08:00:00.000Z',
      to: '2026-11-25T10:00:00.000Z',
      eventBusArn: BUS,
      archiveArn: ARCHIVE,
      rule: 'orders',
    });
  });

  it('fails (exit 1) when the replay FAILED, with EventBridge reason', async () => {
    // Prepare
    const { context } = fakeReplays([{ state: 'FAILED', stateReason: 'Destination bus does not exist' }]);
    const { output } = capture();

    // Act
    const replay = replayEvents(context, { ...args, wait: true }, output, { replayName: 'graph-relay-test', sleep: async () => undefined });

    // Assess
    await expect(replay).rejects.toThrow(new CommandFailedError('replay graph-relay-test FAILED: Destination bus does not exist'));
  });

  it('refuses without a replay port (the local stack)', async () => {
    // Prepare
    const { output } = capture();

    // Act
    const replay = replayEvents({} as CommandContext, args, output);

    // Assess
    await expect(replay).rejects.toThrow(LOCAL_REPLAY_MESSAGE);
  });
});
