/**
 * Fails any test during which a Powertools logger dropped a field. The logger drops the keys it reserves for its own
 * use (`message`, `level`, `timestamp`, `service`, `sampling_rate`) and says so only in a warning of its own, which
 * the tests' SILENT level hides; worse, below the log level it never builds the line, so it never even checks. Here
 * every line is built whatever the level, and the logger's warning is recorded where it is raised.
 */
import { Logger } from '@aws-lambda-powertools/logger';

const RESERVED_KEY_WARNING = /^The key "(.+)" is a reserved key and will be dropped\.$/;

interface LoggerInternals {
  warn(input: unknown, ...extraInput: unknown[]): void;
  processLogItem(logLevel: number, input: unknown, extraInput: unknown[]): void;
  createAndPopulateLogItem(logLevel: number, input: unknown, extraInput: unknown[]): unknown;
}

const dropped: string[] = [];

/** The keys a Powertools logger dropped since the last call (the hook below calls it after each test). */
export function droppedLogKeys(): string[] {
  return [...new Set(dropped.splice(0))];
}

const internals = Logger.prototype as unknown as LoggerInternals;
const warn = internals.warn;
const processLogItem = internals.processLogItem;
if (typeof processLogItem !== 'function' || typeof internals.createAndPopulateLogItem !== 'function') {
  throw new Error('test/setup/log-fields.ts: the Powertools Logger no longer has processLogItem/createAndPopulateLogItem; update the hook');
}

internals.warn = function (this: LoggerInternals, input: unknown, ...extraInput: unknown[]): void {
  const reserved = typeof input === 'string' ? RESERVED_KEY_WARNING.exec(input) : null;
  if (reserved?.[1] !== undefined) dropped.push(reserved[1]);
  warn.call(this, input, ...extraInput);
};

internals.processLogItem = function (this: LoggerInternals, logLevel: number, input: unknown, extraInput: unknown[]): void {
  // Building the line is where the logger checks for reserved keys; it skips that below its log level.
  this.createAndPopulateLogItem(logLevel, input, extraInput);
  processLogItem.call(this, logLevel, input, extraInput);
};

afterEach(() => {
  const keys = droppedLogKeys();
  if (keys.length > 0) {
    throw new Error(`a Powertools logger dropped the reserved key(s) ${keys.map((k) => `"${k}"`).join(', ')}: name the field otherwise (e.g. error)`);
  }
});
