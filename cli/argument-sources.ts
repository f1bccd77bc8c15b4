/** Where the CLI reads what a command line names: `-` secrets from stdin, and PEM files. */
import { X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { UsageError } from './output';

/** Where `-` secrets and `--client-certificate-file` are read from; tests pass fakes. */
export interface ArgumentSources {
  /** All of stdin; `what` names the values expected, for a prompt when stdin is a terminal. */
  readStdin(what: string): Promise<string>;
  readFile(path: string): Promise<string>;
}

export const fileSystemSources: Pick<ArgumentSources, 'readFile'> = {
  readFile: (path) => readFile(path, 'utf8'),
};

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[\s\S]*?-----END \1-----/g;

export interface PemBlock {
  label: string;
  pem: string;
}

/** The PEM blocks of a file named on the command line; an unreadable file is a usage error naming the flag. */
export async function readPemFile(path: string, flag: string, sources: Pick<ArgumentSources, 'readFile'>): Promise<{ text: string; blocks: PemBlock[] }> {
  let text: string;
  try {
    text = await sources.readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (code ?? 'unreadable');
    throw new UsageError(`cannot read ${flag} ${path}: ${why}`);
  }
  return { text, blocks: [...text.matchAll(PEM_BLOCK)].map((match) => ({ label: match[1] ?? '', pem: `${match[0]}\n` })) };
}

export function isEncryptedKey(text: string, blocks: readonly PemBlock[]): boolean {
  return blocks.some((block) => block.label === 'ENCRYPTED PRIVATE KEY') || /Proc-Type: 4,ENCRYPTED/.test(text);
}

/** With a chain (leaf, intermediates), the certificate is the one the key belongs to; else the first. */
export function certificateOfKey(certificates: readonly PemBlock[], key: KeyObject | undefined): PemBlock | undefined {
  const own =
    key === undefined
      ? undefined
      : certificates.find((certificate) => {
          try {
            return new X509Certificate(certificate.pem).checkPrivateKey(key);
          } catch {
            return false;
          }
        });
  return own ?? certificates[0];
}
