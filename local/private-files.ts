/**
 * Files of the local stack that hold secrets (the Secrets Manager emulator's state: webhook secrets, client secrets,
 * private keys), what it delivered (events.ndjson: decrypted resource data of rich notifications) or where and how to
 * reach it (local-stack.json), and the data directory that holds them: owner only, whatever the umask. A mode given to open() or mkdir() is masked by the umask, so each is set again with
 * fchmod/chmod; a file is written to a new temporary file, private before its first byte, then renamed over the old
 * one, so no reader ever sees it half written or readable by others.
 */
import { chmodSync, closeSync, fchmodSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Creates `path` (and missing parents) owner-only, and narrows it if it already exists with a looser mode. */
export function ensurePrivateDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: PRIVATE_DIR_MODE });
  chmodSync(path, PRIVATE_DIR_MODE);
}

/** Replaces `path` with `data` atomically; the file is 0600 from its creation on. */
export function writePrivateFile(path: string, data: string): void {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  // `wx`: a new file, never one planted in its place (a symlink included).
  const fd = openSync(temporary, 'wx', PRIVATE_FILE_MODE);
  let open = true;
  try {
    fchmodSync(fd, PRIVATE_FILE_MODE);
    writeFileSync(fd, data);
    fsyncSync(fd);
    closeSync(fd);
    open = false;
    renameSync(temporary, path);
  } catch (error) {
    if (open) closeSync(fd);
    rmSync(temporary, { force: true });
    throw error;
  }
}

/** Narrows a file written by an older version (or by hand) to 0600; nothing when it does not exist. */
export function narrowPrivateFile(path: string): void {
  try {
    chmodSync(path, PRIVATE_FILE_MODE);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/** Appends `data` to `path`, creating it 0600, and narrows an existing file to 0600. */
export function appendPrivateFile(path: string, data: string): void {
  const fd = openSync(path, 'a', PRIVATE_FILE_MODE);
  try {
    fchmodSync(fd, PRIVATE_FILE_MODE);
    writeFileSync(fd, data);
  } finally {
    closeSync(fd);
  }
}
