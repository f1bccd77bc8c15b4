import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendPrivateFile, ensurePrivateDir, narrowPrivateFile, writePrivateFile } from '../../local/private-files';

const modeOf = (path: string) => (statSync(path).mode & 0o777).toString(8);

let root: string;
let savedUmask: number;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'private-files-'));
  savedUmask = process.umask();
});
afterEach(() => {
  process.umask(savedUmask);
  rmSync(root, { recursive: true, force: true });
});

describe.each([
  ['000 (everything open)', 0o000],
  ['277 (not even owner write)', 0o277],
])('under umask %s', (_name, umask) => {
  it('creates directories 0700 and files 0600, exactly', () => {
    // Prepare
    process.umask(umask);
    const dir = join(root, 'a', 'data');

    // Act
    ensurePrivateDir(dir);
    writePrivateFile(join(dir, 'secrets.json'), '{"secrets":[]}\n');
    appendPrivateFile(join(dir, 'events.ndjson'), '{"id":1}\n');

    // Assess
    expect([modeOf(dir), modeOf(join(dir, 'secrets.json')), modeOf(join(dir, 'events.ndjson'))]).toEqual(['700', '600', '600']);
    expect(readFileSync(join(dir, 'secrets.json'), 'utf8')).toBe('{"secrets":[]}\n');
  });
});

describe('private files written over looser ones', () => {
  it('narrows an existing directory and replaces an existing 0644 file atomically, leaving no temporary file', () => {
    // Prepare
    process.umask(0);
    const dir = join(root, 'data');
    mkdirSync(dir, { mode: 0o755 });
    const file = join(dir, 'local-stack.json');
    writeFileSync(file, 'old', { mode: 0o644 });

    // Act
    ensurePrivateDir(dir);
    writePrivateFile(file, 'new');

    // Assess
    expect([modeOf(dir), modeOf(file), readFileSync(file, 'utf8')]).toEqual(['700', '600', 'new']);
    expect(readdirSync(dir)).toEqual(['local-stack.json']);
  });

  it('narrows an existing log it appends to, and a file left by an older version', () => {
    // Prepare
    process.umask(0);
    const events = join(root, 'events.ndjson');
    const secrets = join(root, 'secrets.json');
    writeFileSync(events, 'first\n', { mode: 0o666 });
    writeFileSync(secrets, '{}', { mode: 0o644 });

    // Act
    appendPrivateFile(events, 'second\n');
    narrowPrivateFile(secrets);
    narrowPrivateFile(join(root, 'absent.json'));

    // Assess
    expect([modeOf(events), readFileSync(events, 'utf8'), modeOf(secrets)]).toEqual(['600', 'first\nsecond\n', '600']);
  });

  it('leaves the old file and no temporary file when the rename fails', () => {
    // Prepare: the target is a directory, so the rename over it fails
    const target = join(root, 'secrets.json');
    mkdirSync(target);

    // Act
    const write = () => writePrivateFile(target, 'value');

    // Assess
    expect(write).toThrow();
    expect(readdirSync(root)).toEqual(['secrets.json']);
  });
});
