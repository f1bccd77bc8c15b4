/** What a bench run started (DynamoDB Local, stacks, servers, clients), stopped in reverse order exactly once. */
export class Resources {
  private readonly stops: { name: string; stop: () => Promise<unknown> | void }[] = [];
  private stopping: Promise<void> | undefined;

  /** `log` reports a stop that failed; the others still run. */
  constructor(private readonly log: (line: string) => void) {}

  add(name: string, stop: () => Promise<unknown> | void): void {
    this.stops.push({ name, stop });
  }

  /** At the end, on failure or on Ctrl-C: every later call gets the same promise. */
  stopAll(): Promise<void> {
    this.stopping ??= (async () => {
      for (const { name, stop } of this.stops.reverse()) {
        try {
          await stop();
        } catch (error) {
          this.log(`stopping ${name} failed: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    })();
    return this.stopping;
  }
}
