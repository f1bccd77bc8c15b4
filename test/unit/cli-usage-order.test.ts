/** The command line is judged as a reader would: a missing argument before a missing option; --version answers. */
import { run } from '../../cli/main';
import type { Ports } from '../../cli/context';
import packageJson from '../../package.json';

/** The CLI in-process; no command here gets as far as AWS or the local stack, and `opened` would show it if one did. */
async function cli(...argv: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const opened: unknown[] = [];
  const ports: Ports = {
    openContext: async (options) => {
      opened.push(options);
      throw new Error('no context in this test');
    },
    eventsFile: async (options) => {
      opened.push(options);
      throw new Error('no events file in this test');
    },
  };
  const code = await run(argv, { output: { out: (line) => stdout.push(line), err: (line) => stderr.push(line) }, ports, interrupt: () => new AbortController().signal });
  return { code, stdout, stderr, opened };
}

describe('graph-relay command line', () => {
  it.each([
    [['connections', 'add', 'contoso'], "graph-relay: missing required argument 'connectionId' (see --help)"],
    [['connections', 'add'], "graph-relay: missing required argument 'integrationId' (see --help)"],
    [['connections', 'add', 'contoso', 'conn-1'], "graph-relay: required option '--tenant-id <guid>' not specified (see --help)"],
    [['subscriptions', 'create', 'contoso'], "graph-relay: missing required argument 'connectionId' (see --help)"],
    [['subscriptions', 'create', 'contoso', 'conn-1', '--change-type', 'created'], "graph-relay: required option '--resource <resource>' not specified (see --help)"],
    [['subscriptions', 'create', 'contoso', 'conn-1', '--resource', 'users'], "graph-relay: required option '--change-type <types>' not specified (see --help)"],
  ])('reports a missing argument before a missing option: %j, exit 2', async (argv, message) => {
    // Act
    const result = await cli(...argv);

    // Assess
    expect(result).toEqual({ code: 2, stdout: [], stderr: [message], opened: [] });
  });

  it('prints the version of package.json with --version, exit 0', async () => {
    // Act
    const result = await cli('--version');

    // Assess
    expect(packageJson.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(result).toEqual({ code: 0, stdout: [packageJson.version], stderr: [], opened: [] });
  });
});
