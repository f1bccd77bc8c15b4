import { randomUUID } from 'node:crypto';
import {
  AwsServiceError,
  epochSeconds,
  isJsonObject,
  missingMember,
  optionalNumber,
  optionalObjectArray,
  optionalString,
  optionalStringArray,
  pageLimit,
  paginate,
  requiredString,
  type AwsService,
  type CallContext,
  type JsonObject,
  type OperationHandler,
} from './protocol';
import { InvalidEventPatternError, matchesEventPattern, parseEventPattern, type EventPattern } from './event-pattern';
import { appendPrivateFile } from '../private-files';

/** PutEvents limits as AWS documents them (API reference and "Calculating PutEvents event entry size"). */
const MAX_ENTRIES = 10;
const MAX_TOTAL_ENTRY_BYTES = 256 * 1024;
const TIME_ENTRY_BYTES = 14;

const DEFAULT_BUS = 'default';
const BUS_NAME_PATTERN = /^[/.\-_A-Za-z0-9]{1,256}$/;

/** TestEventPattern: the EventPattern member's length limit, and the event fields AWS insists on. */
const MAX_EVENT_PATTERN_LENGTH = 4096;
const REQUIRED_EVENT_FIELDS = ['id', 'account', 'source', 'time', 'region', 'detail-type'] as const;
const INVALID_EVENT = 'Parameter Event is not valid.';

/** An event exactly as an EventBridge rule target receives it. */
export interface EmittedEvent {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: JsonObject;
}

interface EventBus {
  name: string;
  arn: string;
  description?: string;
  creationTime: number;
  lastModifiedTime: number;
}

interface RequestEntry {
  source?: string;
  detailType?: string;
  detail?: string;
  eventBusName?: string;
  resources: string[];
  time?: number;
}

interface FailedEntry {
  ErrorCode: string;
  ErrorMessage: string;
}

type ResultEntry = { EventId: string } | FailedEntry;

interface ValidEntry {
  source: string;
  detailType: string;
  detail: JsonObject;
}

/** An in-process subscriber to a bus: the local stand-in for a rule and its target. */
export type EventListener = (event: EmittedEvent) => unknown;

interface Subscription {
  eventBusName: string;
  pattern: EventPattern;
  listener: EventListener;
}

export interface EventBridgeConfig {
  region: string;
  accountId: string;
  /** When set, every delivered event is appended here as one JSON line. */
  eventsFile?: string;
}

/** ISO-8601 in UTC to the second, the format of an event's `time`. */
function eventTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function utf8Bytes(value: string | undefined): number {
  return value === undefined ? 0 : Buffer.byteLength(value, 'utf8');
}

/** The entry size as EventBridge computes it for the request limit. */
function entrySize(entry: RequestEntry): number {
  return (
    (entry.time === undefined ? 0 : TIME_ENTRY_BYTES) +
    utf8Bytes(entry.source) +
    utf8Bytes(entry.detailType) +
    utf8Bytes(entry.detail) +
    entry.resources.reduce((sum, resource) => sum + utf8Bytes(resource), 0)
  );
}

function parseEntry(value: JsonObject): RequestEntry {
  const time = optionalNumber(value, 'Time');
  if (time !== undefined && Number.isNaN(new Date(time * 1000).getTime())) {
    throw new AwsServiceError('SerializationException', 'Expected Time to be a timestamp in epoch seconds.');
  }
  return {
    source: optionalString(value, 'Source'),
    detailType: optionalString(value, 'DetailType'),
    detail: optionalString(value, 'Detail'),
    eventBusName: optionalString(value, 'EventBusName'),
    resources: optionalStringArray(value, 'Resources') ?? [],
    time,
  };
}

function invalidArgument(parameter: string): FailedEntry {
  return {
    ErrorCode: 'InvalidArgument',
    ErrorMessage: `Parameter ${parameter} is not valid. Reason: ${parameter} is a required argument.`,
  };
}

/** The entry's event fields, or the per-entry error AWS reports for it. */
function checkEntry({ source, detailType, detail }: RequestEntry): ValidEntry | FailedEntry {
  if (!source) return invalidArgument('Source');
  if (!detailType) return invalidArgument('DetailType');
  if (!detail) return invalidArgument('Detail');
  try {
    const parsed: unknown = JSON.parse(detail);
    if (isJsonObject(parsed)) return { source, detailType, detail: parsed };
  } catch {
    // Falls through: unparsable and non-object details get the same answer from AWS.
  }
  return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
}

const INTERNAL_FAILURE: FailedEntry = {
  ErrorCode: 'InternalFailure',
  ErrorMessage: 'The request processing has failed because of an unknown error, exception or failure.',
};

/** Event buses and PutEvents, recording what a rule matching every event on each bus would receive. */
const MAX_EVENTS_IN_MEMORY = 50_000;

export class EventBridgeService implements AwsService {
  readonly targetPrefix = 'AWSEvents';
  readonly operations: ReadonlyMap<string, OperationHandler>;
  readonly #buses = new Map<string, EventBus>();
  readonly #delivered: { eventBusName: string; event: EmittedEvent }[] = [];
  readonly #subscriptions = new Set<Subscription>();

  constructor(private readonly config: EventBridgeConfig) {
    this.#addBus(DEFAULT_BUS);
    this.operations = new Map<string, OperationHandler>([
      ['CreateEventBus', (input) => this.#createEventBus(input)],
      ['DescribeEventBus', (input) => this.#describeEventBus(input)],
      ['DeleteEventBus', (input) => this.#deleteEventBus(input)],
      ['ListEventBuses', (input) => this.#listEventBuses(input)],
      ['PutEvents', (input, call) => this.#putEvents(input, call)],
      ['TestEventPattern', (input) => this.#testEventPattern(input)],
    ]);
  }

  /** Delivered events in order, optionally only those on one bus (by name). */
  events(eventBusName?: string): EmittedEvent[] {
    return this.#delivered
      .filter((delivery) => eventBusName === undefined || delivery.eventBusName === eventBusName)
      .map((delivery) => structuredClone(delivery.event));
  }

  clearEvents(): void {
    this.#delivered.length = 0;
  }

  /**
   * Calls `listener` with every event later delivered to the bus that matches the pattern, as a rule target would
   * receive it: after PutEvents has answered (asynchronously, like EventBridge), each call on its own. A listener
   * that throws or rejects is reported through `onError`; it never affects PutEvents or other listeners.
   * @throws InvalidEventPatternError for a pattern EventBridge would refuse. Returns the unsubscribe function.
   */
  subscribe(eventBusName: string, pattern: string, listener: EventListener, onError: (error: unknown) => void): () => void {
    const subscription: Subscription = { eventBusName, pattern: parseEventPattern(pattern), listener: (event) => this.#notify(listener, event, onError) };
    this.#subscriptions.add(subscription);
    return () => {
      this.#subscriptions.delete(subscription);
    };
  }

  #notify(listener: EventListener, event: EmittedEvent, onError: (error: unknown) => void): void {
    setImmediate(() => {
      Promise.resolve()
        .then(() => listener(structuredClone(event)))
        .catch(onError);
    });
  }

  #arn(name: string): string {
    return `arn:aws:events:${this.config.region}:${this.config.accountId}:event-bus/${name}`;
  }

  /** A bus name from a name or an ARN; an ARN of another account or region names no bus here. */
  #busName(nameOrArn: string): string | undefined {
    if (!nameOrArn.startsWith('arn:')) return nameOrArn;
    const prefix = this.#arn('');
    return nameOrArn.startsWith(prefix) ? nameOrArn.slice(prefix.length) : undefined;
  }

  #addBus(name: string, description?: string): EventBus {
    const now = epochSeconds();
    const bus = { name, arn: this.#arn(name), description, creationTime: now, lastModifiedTime: now };
    this.#buses.set(name, bus);
    return bus;
  }

  #requireBus(nameOrArn: string): EventBus {
    const name = this.#busName(nameOrArn);
    const bus = name === undefined ? undefined : this.#buses.get(name);
    if (bus === undefined) throw new AwsServiceError('ResourceNotFoundException', `Event bus ${nameOrArn} does not exist.`);
    return bus;
  }

  #createEventBus(input: JsonObject): JsonObject {
    const name = requiredString(input, 'Name');
    const eventSourceName = optionalString(input, 'EventSourceName');
    // Partner event sources are not emulated, so none exists to attach a bus to.
    if (eventSourceName !== undefined) {
      throw new AwsServiceError('ResourceNotFoundException', `Event source ${eventSourceName} does not exist.`);
    }
    if (name.includes('/')) throw new AwsServiceError('ValidationException', "Event bus name must not contain '/'.");
    if (!BUS_NAME_PATTERN.test(name)) {
      throw new AwsServiceError(
        'ValidationException',
        `1 validation error detected: Value '${name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [/\\.\\-_A-Za-z0-9]+`,
      );
    }
    if (this.#buses.has(name)) throw new AwsServiceError('ResourceAlreadyExistsException', `Event bus ${name} already exists.`);
    const bus = this.#addBus(name, optionalString(input, 'Description'));
    return { EventBusArn: bus.arn, Description: bus.description };
  }

  #describeEventBus(input: JsonObject): JsonObject {
    const bus = this.#requireBus(optionalString(input, 'Name') ?? DEFAULT_BUS);
    return {
      Name: bus.name,
      Arn: bus.arn,
      Description: bus.description,
      CreationTime: bus.creationTime,
      LastModifiedTime: bus.lastModifiedTime,
    };
  }

  /** Deleting a bus that does not exist succeeds, as it does on AWS. */
  #deleteEventBus(input: JsonObject): JsonObject {
    const name = requiredString(input, 'Name');
    if (name === DEFAULT_BUS) throw new AwsServiceError('ValidationException', 'Cannot delete event bus default.');
    this.#buses.delete(name);
    return {};
  }

  #listEventBuses(input: JsonObject): JsonObject {
    const prefix = optionalString(input, 'NamePrefix') ?? '';
    const buses = [...this.#buses.values()]
      .filter((bus) => bus.name.startsWith(prefix))
      .sort((a, b) => a.name.localeCompare(b.name));
    const { page, nextToken } = paginate(buses, optionalString(input, 'NextToken'), pageLimit(input, 'Limit', 100), 'ValidationException');
    return {
      EventBuses: page.map((bus) => ({
        Name: bus.name,
        Arn: bus.arn,
        Description: bus.description,
        CreationTime: bus.creationTime,
        LastModifiedTime: bus.lastModifiedTime,
      })),
      NextToken: nextToken,
    };
  }

  #putEvents(input: JsonObject, call: CallContext): JsonObject {
    const entries = optionalObjectArray(input, 'Entries');
    if (entries === undefined) throw missingMember('Entries');
    if (entries.length < 1 || entries.length > MAX_ENTRIES) {
      const constraint = entries.length < 1 ? 'greater than or equal to 1' : `less than or equal to ${MAX_ENTRIES}`;
      throw new AwsServiceError(
        'ValidationException',
        `1 validation error detected: Value '[${entries.length} entries]' at 'entries' failed to satisfy constraint: Member must have length ${constraint}`,
      );
    }
    const parsed = entries.map(parseEntry);
    if (parsed.reduce((sum, entry) => sum + entrySize(entry), 0) > MAX_TOTAL_ENTRY_BYTES) {
      throw new AwsServiceError('ValidationException', 'Total size of the entries in the request is over the limit.');
    }
    let entriesToFail = call.failEntries;
    const lines: string[] = [];
    const results = parsed.map((entry): ResultEntry => {
      const checked = checkEntry(entry);
      if ('ErrorCode' in checked) return checked;
      if (entriesToFail > 0) {
        entriesToFail -= 1;
        return INTERNAL_FAILURE;
      }
      const event: EmittedEvent = {
        version: '0',
        id: randomUUID(),
        'detail-type': checked.detailType,
        source: checked.source,
        account: this.config.accountId,
        time: eventTime(entry.time === undefined ? Date.now() : entry.time * 1000),
        region: this.config.region,
        resources: entry.resources,
        detail: checked.detail,
      };
      if (this.#deliver(entry.eventBusName ?? DEFAULT_BUS, event)) lines.push(`${JSON.stringify(event)}\n`);
      return { EventId: event.id };
    });
    // One append per call, not per event: the file is a log for people and tests, not a hot path.
    if (this.config.eventsFile !== undefined && lines.length > 0) appendPrivateFile(this.config.eventsFile, lines.join(''));
    return { FailedEntryCount: results.filter((result) => 'ErrorCode' in result).length, Entries: results };
  }

  /**
   * TestEventPattern (API reference: https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_TestEventPattern.html).
   * The pattern is checked first: an invalid one is InvalidEventPatternException with Event Ruler's reason. The
   * event must be a JSON object with id, account, source, time, region and detail-type, or it is ValidationException
   * "Parameter Event is not valid.". The reference also lists `resources` as mandatory, but AWS accepts events
   * without it (LocalStack's AWS-validated tests rely on that), so it is not required here.
   */
  #testEventPattern(input: JsonObject): JsonObject {
    const source = requiredString(input, 'EventPattern');
    const eventJson = requiredString(input, 'Event');
    if ([...source].length > MAX_EVENT_PATTERN_LENGTH) {
      throw new AwsServiceError(
        'ValidationException',
        `1 validation error detected: Value '${source}' at 'eventPattern' failed to satisfy constraint: Member must have length less than or equal to ${MAX_EVENT_PATTERN_LENGTH}`,
      );
    }
    let pattern: EventPattern;
    try {
      pattern = parseEventPattern(source);
    } catch (error) {
      if (!(error instanceof InvalidEventPatternError)) throw error;
      throw new AwsServiceError('InvalidEventPatternException', `Event pattern is not valid. Reason: ${error.message}`);
    }
    let event: unknown;
    try {
      event = JSON.parse(eventJson);
    } catch {
      throw new AwsServiceError('ValidationException', INVALID_EVENT);
    }
    if (!isJsonObject(event) || !REQUIRED_EVENT_FIELDS.every((field) => field in event)) {
      throw new AwsServiceError('ValidationException', INVALID_EVENT);
    }
    return { Result: matchesEventPattern(pattern, event) };
  }

  /** AWS accepts events for a bus that does not exist and drops them, so they are recorded nowhere. */
  #deliver(nameOrArn: string, event: EmittedEvent): boolean {
    const eventBusName = this.#busName(nameOrArn);
    if (eventBusName === undefined || !this.#buses.has(eventBusName)) return false;
    this.#delivered.push({ eventBusName, event });
    for (const subscription of this.#subscriptions) {
      if (subscription.eventBusName === eventBusName && matchesEventPattern(subscription.pattern, event)) subscription.listener(event);
    }
    // A long-running local stack keeps only the most recent events in memory; the file keeps them all.
    // Trimmed in steps of a tenth, so the copy is paid once per 5,000 events, not on every event.
    if (this.#delivered.length > MAX_EVENTS_IN_MEMORY * 1.1) this.#delivered.splice(0, this.#delivered.length - MAX_EVENTS_IN_MEMORY);
    return true;
  }
}
