/**
 * `npm run test:reliability`: the reliability suite (test/reliability) in its full profile, alone, writing
 * reliability-report.json. `-- --short` runs the profile `npm test` runs; other arguments reach jest.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

const args = process.argv.slice(2);
const short = args.includes('--short');
const jestArgs = args.filter((a) => a !== '--short');
if (args.includes('--help') || args.includes('-h')) {
  console.log(`Usage: npm run test:reliability [-- --short] [jest arguments]

Runs test/reliability against the local stack: load (autocannon), faults (bus errors, DynamoDB Local restart,
secret read failures), hostile input (fast-check), then a health check and a scan of every log line for secrets.
Prints the figures with their thresholds and writes reliability-report.json. Exit code: jest's (0 when every figure
is within its threshold).
  --short   the short profile that npm test runs
  RELIABILITY_PHASES=load,faults,hostile   only some phases; RELIABILITY_VERBOSE=true   progress on stderr`);
  process.exit(0);
}
const report = resolve(process.env['RELIABILITY_REPORT'] || 'reliability-report.json');
const jest = createRequire(import.meta.url).resolve('jest/bin/jest');
const result = spawnSync(process.execPath, [jest, '--runInBand', 'test/reliability', ...jestArgs], {
  stdio: 'inherit',
  env: {
    ...process.env,
    RELIABILITY_PROFILE: short ? 'short' : 'full',
    RELIABILITY_REPORT: report,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  },
});
process.exit(result.status ?? 1);
