import type { z } from 'zod';
import { describeIssues } from '../shared/graph/change-notification';
import { ConnectionExistsError, IntegrationNotFoundError, StoreDataError } from '../shared/store/connections-store';
import { LocalStackNotRunningError } from '../local/descriptor';
import { ConfigError } from '../shared/config/env-parsing';
import { GraphRequestError } from '../shared/graph/graph-client';
import { TokenRequestError } from '../shared/graph/token-client';
import { InvalidAppCredentialsError, MissingAppCredentialsError } from '../shared/secrets/app-credentials';
import { EncryptionCertificateChangeError } from '../shared/secrets/encryption-certificate-changes';
import { MissingWebhookSecretError } from '../shared/subscriptions/integration-graphs';

export const PROGRAM = 'graph-relay';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Where commands write: stdout carries results only, stderr carries errors, warnings and notes. */
export interface Output {
  out(line: string): void;
  err(line: string): void;
}

/** The command line itself is wrong: exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The command was understood but could not be carried out: exit code 1. */
export class CommandFailedError extends Error {
  override readonly name = 'CommandFailedError';
}

/** Parses one command-line value, or refuses it naming the flag; secrets are never echoed back. */
export function parseArg<S extends z.ZodType>(schema: S, value: string, label: string, options: { secret?: boolean } = {}): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const shown = options.secret ? '' : ` ${JSON.stringify(value)}`;
    throw new UsageError(`invalid ${label}${shown}: ${describeIssues(parsed.error)}`);
  }
  return parsed.data;
}

export function printJson(output: Output, value: unknown): void {
  output.out(JSON.stringify(value, null, 2));
}

export function warn(output: Output, message: string): void {
  output.err(`${PROGRAM}: warning: ${message}`);
}

/**
 * Left-aligned columns separated by two spaces, headers upper-cased. Columns are as wide as a terminal shows their
 * cells (not their UTF-16 length), and a line break or tab in a cell becomes a space, so each row stays one line.
 */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const cellsOf = (cells: readonly string[]) => cells.map((cell) => cell.replace(/[\t\n\v\f\r\u0085\u2028\u2029]/g, ' '));
  const table = [cellsOf(headers.map((header) => header.toUpperCase())), ...rows.map(cellsOf)];
  const widths = headers.map((_header, i) => Math.max(...table.map((row) => displayWidth(row[i] ?? ''))));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell + ' '.repeat(Math.max(0, (widths[i] ?? 0) - displayWidth(cell))))
      .join('  ')
      .trimEnd();
  return table.map(line);
}

/**
 * What every `list` command prints: with `--json` the rows (or what `jsonOf` makes of them), else `empty` when
 * there are none, else a table of `cells` under `headers`.
 */
export function printList<R>(
  output: Output,
  rows: readonly R[],
  options: { json?: boolean | undefined; jsonOf?: (rows: readonly R[]) => unknown; empty: string; headers: readonly string[]; cells: (row: R) => readonly string[] },
): void {
  if (options.json) {
    printJson(output, options.jsonOf === undefined ? rows : options.jsonOf(rows));
    return;
  }
  if (rows.length === 0) {
    output.out(options.empty);
    return;
  }
  formatTable(options.headers, rows.map(options.cells)).forEach((line) => output.out(line));
}

/** Combining marks and zero-width characters take no column. */
const ZERO_WIDTH = /^[\p{Mn}\p{Me}\u200B-\u200F\u2060\uFEFF]$/u;
/** East Asian wide and fullwidth characters, and emoji, take two columns (Unicode UAX #11, roughly). */
const WIDE = /^[\u1100-\u115F\u2E80-\u303E\u3041-\u33FF\u3400-\u4DBF\u4E00-\u9FFF\uA000-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6\u{1F300}-\u{1F64F}\u{1F900}-\u{1F9FF}\u{20000}-\u{3FFFD}]$/u;

/** The columns a terminal uses to show `text`. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const character of text) width += ZERO_WIDTH.test(character) ? 0 : WIDE.test(character) ? 2 : 1;
  return width;
}

/** Prints `error` as one line on stderr and returns the exit code it deserves. */
export function reportError(output: Output, error: unknown): number {
  output.err(`${PROGRAM}: ${oneLine(messageOf(error))}`);
  return error instanceof UsageError ? EXIT_USAGE : EXIT_FAILED;
}

const OPERATIONAL_ERRORS = [
  CommandFailedError,
  IntegrationNotFoundError,
  ConnectionExistsError,
  StoreDataError,
  LocalStackNotRunningError,
  ConfigError,
  GraphRequestError,
  TokenRequestError,
  MissingAppCredentialsError,
  InvalidAppCredentialsError,
  MissingWebhookSecretError,
  EncryptionCertificateChangeError,
] as const;

function messageOf(error: unknown): string {
  if (error instanceof UsageError || OPERATIONAL_ERRORS.some((type) => error instanceof type)) {
    return (error as Error).message;
  }
  if (error instanceof AggregateError && error.message === '') {
    // Connection failures to every address of a host (IPv6 and IPv4 for localhost) arrive with an empty message.
    return error.errors.map(messageOf).join('; ');
  }
  if (error instanceof Error) {
    // AWS SDK service errors carry the service's code as their name (ResourceNotFoundException, AccessDenied...).
    if (error.message === '') return error.name;
    return error.name === 'Error' ? error.message : `${error.name}: ${error.message}`;
  }
  return String(error);
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
