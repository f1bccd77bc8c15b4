/** AWS mode without credentials: the CLI says what to set, in one line, with no network call (IMDS disabled). */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli-process';

let home: string;

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'graph-relay-no-credentials-'));
});

afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

describe('graph-relay in AWS mode without credentials', () => {
  it.each([[['connections', 'list']], [['--stage', 'prod', 'subscriptions', 'list', '--json']]])('says what to set or pass instead for %j, exit 1', async (args) => {
    // Act: no AWS_* variable but the region (runCli drops them), an empty HOME (no ~/.aws), no instance metadata
    const result = await runCli(args, { HOME: home, AWS_REGION: 'eu-west-1', AWS_EC2_METADATA_DISABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });

    // Assess
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^graph-relay: no usable AWS credentials \(/);
    expect(result.stderr).toContain('set AWS_PROFILE');
    expect(result.stderr).toContain('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
    expect(result.stderr).toContain('aws sso login');
    expect(result.stderr).toContain('--local');
    expect(result.stderr).not.toMatch(/^graph-relay: CredentialsProviderError/);
  });
});
