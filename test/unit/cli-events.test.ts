import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTailEventsArgs, tailEvents } from '../../cli/commands/events';

function event(n: number, connectionId: string | null = `conn-${n}`): string {
  return JSON.stringify({
    version: '0',
    id: `id-${n}`,
    'detail-type': connectionId === null ? 'Graph Notification Unrouted' : 'Graph Change Notification',
    source: 'graph-relay',
    account: '000000000000',
    time: `2024-05-01T12:00:0${n}Z`,
    region: 'us-east-1',
    resources: [],
    detail: {
      from: 'microsoft-oauth2-cc',
      providerConfigKey: 'contoso',
      type: 'forward',
      connectionId,
      payload: { value: [] },
      metadata: { idempotencyKey: `${n}`.repeat(64), tenantId: 't', subscriptionId: 's', receivedAt: 'r' },
    },
  });
}

function capture() {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, output: { out: (line: string) => stdout.push(line), err: (line: string) => stderr.push(line) } };
}

let dir: string;
let file: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'graph-relay-cli-events-'));
  file = join(dir, 'events.ndjson');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('events tail', () => {
  it('prints the last n events, one line each, under a header naming the columns', async () => {
    // Prepare
    await writeFile(file, [1, 2, 3].map((n) => event(n)).join('\n') + `\n${event(4, null)}\n`);
    const { stdout, stderr, output } = capture();

    // Act
    await tailEvents(file, parseTailEventsArgs({ limit: '2' }), output);

    // Assess
    expect(stdout).toEqual([
      'TIME                  DETAIL-TYPE                   INTEGRATION  CONNECTION  IDEMPOTENCY KEY',
      '2024-05-01T12:00:03Z  Graph Change Notification     contoso      conn-3      333333333333',
      '2024-05-01T12:00:04Z  Graph Notification Unrouted   contoso      -           444444444444',
    ]);
    expect(stderr).toEqual([]);
  });

  it('prints the raw lines with --json, and warns about lines that are not events', async () => {
    // Prepare
    await writeFile(file, `${event(1)}\nnot json\n\n{"detail-type":"Other"}\n${event(2)}\n`);
    const { stdout, stderr, output } = capture();

    // Act
    await tailEvents(file, parseTailEventsArgs({ limit: '20', json: true }), output);

    // Assess
    expect(stdout).toEqual([event(1), event(2)]);
    expect(stdout.map((line) => JSON.parse(line) as unknown)).toHaveLength(2);
    expect(stderr).toEqual([
      `graph-relay: warning: skipped line 2 of ${file}: not a graph-relay event`,
      `graph-relay: warning: skipped line 4 of ${file}: not a graph-relay event`,
    ]);
  });

  it('says so when there are no events yet', async () => {
    // Prepare
    const { stdout, stderr, output } = capture();

    // Act
    await tailEvents(file, parseTailEventsArgs({ limit: '20' }), output);

    // Assess
    expect(stdout).toEqual([]);
    expect(stderr).toEqual([`graph-relay: no events yet in ${file}`]);
  });

  it('prints the header once, before the first event, when following a file that has none yet', async () => {
    // Prepare
    const { stdout, output } = capture();
    const controller = new AbortController();

    // Act
    const tail = tailEvents(file, parseTailEventsArgs({ limit: '20', follow: true }), output, controller.signal);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const beforeEvents = [...stdout];
    await writeFile(file, `${event(1)}\n`);
    while (stdout.length < 2) await new Promise((resolve) => setTimeout(resolve, 20));
    await appendFile(file, `${event(2)}\n`);
    while (stdout.length < 3) await new Promise((resolve) => setTimeout(resolve, 20));
    controller.abort();
    await tail;

    // Assess
    expect(beforeEvents).toEqual([]);
    expect(stdout.map((line) => line.slice(0, 20))).toEqual(['TIME                ', '2024-05-01T12:00:01Z', '2024-05-01T12:00:02Z']);
  });

  it('follows appended lines, a partial line once it is complete, until aborted', async () => {
    // Prepare
    await writeFile(file, `${event(1)}\n`);
    const { stdout, output } = capture();
    const controller = new AbortController();
    // The header comes first, with the first event.
    const waitFor = async (count: number) => {
      while (stdout.length < count + 1) await new Promise((resolve) => setTimeout(resolve, 20));
    };

    // Act
    const tail = tailEvents(file, parseTailEventsArgs({ limit: '20', follow: true }), output, controller.signal);
    await waitFor(1);
    const second = event(2);
    await appendFile(file, second.slice(0, 40));
    await new Promise((resolve) => setTimeout(resolve, 600));
    const beforeComplete = stdout.length;
    await appendFile(file, `${second.slice(40)}\n${event(3)}\n`);
    await waitFor(3);
    controller.abort();
    await tail;

    // Assess
    expect(beforeComplete).toBe(2);
    expect(stdout.slice(1).map((line) => line.slice(0, 20))).toEqual(['2024-05-01T12:00:01Z', '2024-05-01T12:00:02Z', '2024-05-01T12:00:03Z']);
  });

  it('starts again from the beginning of a file that was replaced by a shorter one', async () => {
    // Prepare
    await writeFile(file, `${event(1)}\n${event(2)}\n`);
    const { stdout, output } = capture();
    const controller = new AbortController();

    // Act
    const tail = tailEvents(file, parseTailEventsArgs({ limit: '20', follow: true }), output, controller.signal);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await writeFile(file, `${event(3)}\n`);
    while (stdout.length < 4) await new Promise((resolve) => setTimeout(resolve, 20));
    controller.abort();
    await tail;

    // Assess: one header, then the events of both files
    expect(stdout.map((line) => line.slice(0, 20))).toEqual(['TIME                ', '2024-05-01T12:00:01Z', '2024-05-01T12:00:02Z', '2024-05-01T12:00:03Z']);
  });

  it.each(['0', '-1', '1.5', 'ten', '1000000'])('refuses --limit %s', (limit) => {
    // Act
    const act = () => parseTailEventsArgs({ limit });

    // Assess
    expect(act).toThrow(`invalid --limit "${limit}": must be a whole number from 1 to 999999`);
  });
});
