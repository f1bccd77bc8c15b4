/**
 * Every secret the reliability suite configures (webhook secrets, clientStates, client secrets, private keys…),
 * and the scan that fails on a single occurrence of any of them in the suite's log output.
 */
export interface SecretOccurrence {
  label: string;
  /** Where in the text, and the line around it with the secret masked. */
  index: number;
  line: string;
}

/** Text that is never legitimate in a log, whatever its value: private key material. */
const ALWAYS_SECRET = [/-----BEGIN [A-Z ]*PRIVATE KEY-----/];

export class SecretRegistry {
  readonly #values = new Map<string, string>();

  /** Registers `value` (and, for PEM text, its base64 body lines) under `label`; values under 8 characters are refused as unscannable. */
  add(value: string, label: string): void {
    if (value.length < 8) throw new Error(`secret "${label}" is ${value.length} characters: too short to scan for without false hits`);
    this.#values.set(value, label);
    if (value.includes('-----BEGIN')) {
      // A key logged without its armour still leaks: each long base64 line of the body is searched for too.
      for (const line of value.split('\n')) if (line.length >= 40 && !line.startsWith('-----')) this.#values.set(line.trim(), `${label} (PEM line)`);
    }
  }

  get size(): number {
    return this.#values.size;
  }

  labels(): string[] {
    return [...new Set(this.#values.values())];
  }

  /** Every occurrence in `text` of a registered value, and any private key armour. */
  scan(text: string): SecretOccurrence[] {
    const found: SecretOccurrence[] = [];
    for (const [value, label] of this.#values) {
      for (let at = text.indexOf(value); at !== -1; at = text.indexOf(value, at + 1)) found.push({ label, index: at, line: lineAround(text, at, value) });
    }
    for (const pattern of ALWAYS_SECRET) {
      for (const match of text.matchAll(new RegExp(pattern.source, 'g'))) found.push({ label: 'private key armour', index: match.index, line: lineAround(text, match.index, match[0]) });
    }
    return found;
  }
}

function lineAround(text: string, index: number, value: string): string {
  const start = text.lastIndexOf('\n', index) + 1;
  const end = text.indexOf('\n', index);
  const line = text.slice(start, end === -1 ? undefined : end);
  return line.split(value).join('«secret»').slice(0, 300);
}
