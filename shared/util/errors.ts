/**
 * How an error reads in a log field or a reason string. Graph, the SDK and our own errors all set `name`, which
 * tells an operator more than the message alone, so log fields carry both.
 */
export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** The message alone, for texts that already say what failed and read better without the error's class name. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Describes the error's cause when it has one: SDK wrappers put the real failure (a timeout, a refused connection)
 * in `cause`, and that is what an operator needs to read.
 */
export function describeCause(error: unknown): string {
  return describeError(error instanceof Error && error.cause instanceof Error ? error.cause : error);
}

/** The stack for an error nothing expected: where it was thrown is what an operator needs to find its cause. */
export function errorStack(error: unknown): string | undefined {
  return error instanceof Error ? error.stack : String(error);
}
