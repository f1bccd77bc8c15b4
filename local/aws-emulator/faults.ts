import { isJsonObject } from './protocol';

/** Codes product tests usually want; any other AWS error code is accepted too. */
export type FaultErrorCode =
  | 'InternalFailure'
  | 'InternalException'
  | 'InternalServiceError'
  | 'ServiceUnavailable'
  | 'ThrottlingException'
  | (string & {});

/** Fails whole calls of `operation` with an AWS error. */
export interface ErrorFault {
  operation: string;
  mode: 'error';
  /** Default InternalFailure, AWS's common code for an unknown server-side failure. */
  errorCode?: FaultErrorCode;
  /** Default 500 for internal errors, 503 for ServiceUnavailable, otherwise 400. */
  status?: number;
  message?: string;
  /** Calls left to fail; omitted means until cleared. */
  times?: number;
}

/** Fails the first `failEntries` otherwise-accepted entries of each PutEvents call with ErrorCode InternalFailure. */
export interface PartialFault {
  operation: 'PutEvents';
  mode: 'partial';
  failEntries: number;
  /** Calls left to affect; omitted means until cleared. */
  times?: number;
}

export type Fault = ErrorFault | PartialFault;

export class InvalidFaultError extends Error {
  override name = 'InvalidFaultError';
}

const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  InternalFailure: 500,
  InternalException: 500,
  InternalServiceError: 500,
  ServiceUnavailable: 503,
};

export function defaultStatus(errorCode: string): number {
  return STATUS_BY_CODE[errorCode] ?? 400;
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0;
}

/**
 * Faults queued per operation: each call consumes one use of the oldest fault, so tests can script
 * sequences such as "throttle twice, then fail one entry".
 */
export class FaultInjector {
  readonly #queues = new Map<string, Fault[]>();

  constructor(private readonly operations: ReadonlySet<string>) {}

  /** Queues faults in order; all are validated first (they also arrive as untyped JSON over HTTP), so none is added if one is invalid. */
  inject(...faults: Fault[]): void {
    for (const checked of faults.map((fault) => this.#validate(fault))) {
      const queue = this.#queues.get(checked.operation) ?? [];
      queue.push(checked);
      this.#queues.set(checked.operation, queue);
    }
  }

  clear(operation?: string): void {
    if (operation === undefined) this.#queues.clear();
    else this.#queues.delete(operation);
  }

  /** Active faults, `times` showing the uses left. */
  list(): Fault[] {
    return [...this.#queues.values()].flat().map((fault) => ({ ...fault }));
  }

  /** The fault that applies to this call of `operation`, if any, counting one use. */
  consume(operation: string): Fault | undefined {
    const queue = this.#queues.get(operation);
    const fault = queue?.[0];
    if (queue === undefined || fault === undefined) return undefined;
    const applied = { ...fault };
    if (fault.times !== undefined) {
      fault.times -= 1;
      if (fault.times === 0) queue.shift();
      if (queue.length === 0) this.#queues.delete(operation);
    }
    return applied;
  }

  #validate(value: unknown): Fault {
    if (!isJsonObject(value)) throw new InvalidFaultError('A fault must be an object.');
    const { operation, mode, times } = value;
    if (typeof operation !== 'string' || !this.operations.has(operation)) {
      throw new InvalidFaultError(`Unknown operation ${String(operation)}; expected one of ${[...this.operations].join(', ')}.`);
    }
    if (times !== undefined && !isPositiveInteger(times)) throw new InvalidFaultError('times must be a positive integer.');
    if (mode === 'error') {
      const { errorCode = 'InternalFailure', status, message } = value;
      if (typeof errorCode !== 'string' || errorCode === '') throw new InvalidFaultError('errorCode must be a non-empty string.');
      if (status !== undefined && !(Number.isInteger(status) && Number(status) >= 400 && Number(status) <= 599)) {
        throw new InvalidFaultError('status must be an HTTP error status (400-599).');
      }
      if (message !== undefined && typeof message !== 'string') throw new InvalidFaultError('message must be a string.');
      return {
        operation,
        mode,
        errorCode,
        status: typeof status === 'number' ? status : defaultStatus(errorCode),
        message: message ?? `Injected fault: ${errorCode}`,
        times,
      };
    }
    if (mode === 'partial') {
      if (operation !== 'PutEvents') throw new InvalidFaultError('Partial faults apply to PutEvents only.');
      if (!isPositiveInteger(value.failEntries)) throw new InvalidFaultError('failEntries must be a positive integer.');
      return { operation, mode, failEntries: value.failEntries, times };
    }
    throw new InvalidFaultError(`mode must be 'error' or 'partial', got ${String(mode)}.`);
  }
}
