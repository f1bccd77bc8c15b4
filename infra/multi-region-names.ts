/**
 * Fixed names of a multi-region stage's resources, the same in every region: the global tables are one table with
 * a replica per region, and consumers deploy the same rule, on a bus of the same name, in each region.
 */
export function multiRegionNames(stage: string) {
  return { connectionsTable: `graph-relay-${stage}-connections`, eventBus: `graph-relay-${stage}`, writerLeaseTable: `graph-relay-${stage}-writer-lease` } as const;
}

/** The name of a multi-region stage's event bus in each of its regions. */
export function relayBusName(stage: string): string {
  return multiRegionNames(stage).eventBus;
}
