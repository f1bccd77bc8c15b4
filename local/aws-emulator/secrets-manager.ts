import { existsSync, readFileSync } from 'node:fs';
import { randomInt, randomUUID } from 'node:crypto';
import {
  AwsServiceError,
  epochSeconds,
  optionalBoolean,
  optionalNumber,
  optionalObjectArray,
  optionalString,
  optionalStringArray,
  pageLimit,
  paginate,
  requiredString,
  type AwsService,
  type JsonObject,
  type OperationHandler,
} from './protocol';
import { narrowPrivateFile, writePrivateFile } from '../private-files';

const CURRENT = 'AWSCURRENT';
const PREVIOUS = 'AWSPREVIOUS';
const NAME_PATTERN = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const MAX_SECRET_STRING_BYTES = 65_536;
const DAY_SECONDS = 86_400;
const ARN_SUFFIX_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

interface Tag {
  Key: string;
  Value: string;
}

interface SecretVersion {
  versionId: string;
  secretString?: string;
  /** Base64, as the JSON protocol carries blobs. */
  secretBinary?: string;
  createdDate: number;
  stages: string[];
}

interface Secret {
  name: string;
  arn: string;
  description?: string;
  tags?: Tag[];
  createdDate: number;
  lastChangedDate: number;
  lastAccessedDate?: number;
  /** Set while the secret waits out its recovery window. */
  deletionDate?: number;
  versions: SecretVersion[];
}

interface SecretValue {
  secretString?: string;
  secretBinary?: string;
}

interface StateFile {
  secrets: Secret[];
}

export interface SecretsManagerConfig {
  region: string;
  accountId: string;
  /** When set, secrets are loaded from and saved to this JSON file. */
  stateFile?: string;
}

const NOT_FOUND = "Secrets Manager can't find the specified secret.";
const MARKED_FOR_DELETION = "You can't perform this operation on the secret because it was marked for deletion.";

function notFound(message = NOT_FOUND): AwsServiceError {
  return new AwsServiceError('ResourceNotFoundException', message);
}

function arnSuffix(): string {
  return Array.from({ length: 6 }, () => ARN_SUFFIX_ALPHABET.charAt(randomInt(ARN_SUFFIX_ALPHABET.length))).join('');
}

/** AWS records last access to the day. */
function today(): number {
  const now = new Date();
  return epochSeconds(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
}

function readValue(input: JsonObject): SecretValue | undefined {
  const secretString = optionalString(input, 'SecretString');
  const secretBinary = optionalString(input, 'SecretBinary');
  if (secretString !== undefined && secretBinary !== undefined) {
    throw new AwsServiceError(
      'InvalidParameterException',
      "You can't specify both a binary secret value and a string secret value in the same secret.",
    );
  }
  if (secretString !== undefined && Buffer.byteLength(secretString) > MAX_SECRET_STRING_BYTES) {
    throw new AwsServiceError(
      'ValidationException',
      `1 validation error detected: Value at 'secretString' failed to satisfy constraint: Member must have length less than or equal to ${MAX_SECRET_STRING_BYTES}`,
    );
  }
  if (secretString === undefined && secretBinary === undefined) return undefined;
  return { secretString, secretBinary };
}

function readTags(input: JsonObject): Tag[] | undefined {
  return optionalObjectArray(input, 'Tags')?.map((tag) => ({
    Key: optionalString(tag, 'Key') ?? '',
    Value: optionalString(tag, 'Value') ?? '',
  }));
}

/** What DescribeSecret and ListSecrets both say of a secret (each adds its own name for the version stages). */
function secretMetadata(secret: Secret): JsonObject {
  return {
    ARN: secret.arn,
    Name: secret.name,
    Description: secret.description,
    Tags: secret.tags,
    CreatedDate: secret.createdDate,
    LastChangedDate: secret.lastChangedDate,
    LastAccessedDate: secret.lastAccessedDate,
    DeletedDate: secret.deletionDate,
  };
}

function versionsToStages(secret: Secret): Record<string, string[]> {
  return Object.fromEntries(secret.versions.map((version) => [version.versionId, [...version.stages]]));
}

/** The values a ListSecrets filter key compares against. */
function filterAttributes(secret: Secret, key: string): string[] {
  switch (key) {
    case 'name':
      return [secret.name];
    case 'description':
      return secret.description === undefined ? [] : [secret.description];
    case 'tag-key':
      return (secret.tags ?? []).map((tag) => tag.Key);
    case 'tag-value':
      return (secret.tags ?? []).map((tag) => tag.Value);
    case 'primary-region':
    case 'owning-service':
      // Replication and service-owned secrets are not emulated, so no secret has these.
      return [];
    default:
      throw new AwsServiceError('InvalidParameterException', `Filter key ${key} is not supported by the emulator.`);
  }
}

/** AWS documents every key as a prefix match, case-insensitive for description only, and `!` as negation. */
function matchesFilter(secret: Secret, filter: JsonObject): boolean {
  const key = requiredString(filter, 'Key');
  const values = optionalStringArray(filter, 'Values') ?? [];
  const caseInsensitive = key === 'description';
  const normalise = (text: string): string => (caseInsensitive ? text.toLowerCase() : text);
  const attributes = filterAttributes(secret, key).map(normalise);
  return values.some((raw) => {
    const negated = raw.startsWith('!');
    const prefix = normalise(negated ? raw.slice(1) : raw);
    const found = attributes.some((attribute) => attribute.startsWith(prefix));
    return negated ? !found : found;
  });
}

function loadState(stateFile: string): StateFile {
  try {
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as Partial<StateFile>;
    if (!Array.isArray(state.secrets)) throw new Error('no "secrets" list');
    return { secrets: state.secrets };
  } catch (error) {
    // Refusing to start beats silently overwriting secrets someone kept there.
    throw new Error(`Cannot load emulator secrets from ${stateFile}: ${(error as Error).message}`, { cause: error });
  }
}

/** Secrets with versions and staging labels, persisted to `stateFile` after every change. */
export class SecretsManagerService implements AwsService {
  readonly targetPrefix = 'secretsmanager';
  readonly operations: ReadonlyMap<string, OperationHandler>;
  readonly #secrets = new Map<string, Secret>();

  constructor(private readonly config: SecretsManagerConfig) {
    if (config.stateFile !== undefined && existsSync(config.stateFile)) {
      // A file an older version wrote readable by others holds the same secrets: narrowed before anything is read.
      narrowPrivateFile(config.stateFile);
      for (const secret of loadState(config.stateFile).secrets) this.#secrets.set(secret.name, secret);
    }
    this.operations = new Map<string, OperationHandler>([
      ['CreateSecret', (input) => this.#createSecret(input)],
      ['GetSecretValue', (input) => this.#getSecretValue(input)],
      ['PutSecretValue', (input) => this.#putSecretValue(input)],
      ['UpdateSecret', (input) => this.#updateSecret(input)],
      ['DescribeSecret', (input) => this.#describeSecret(input)],
      ['ListSecrets', (input) => this.#listSecrets(input)],
      ['DeleteSecret', (input) => this.#deleteSecret(input)],
    ]);
  }

  #save(): void {
    if (this.config.stateFile === undefined) return;
    const state: StateFile = { secrets: [...this.#secrets.values()] };
    // Owner only and atomic: a crash mid-write never leaves a truncated file, and no reader ever sees the values.
    writePrivateFile(this.config.stateFile, `${JSON.stringify(state, null, 2)}\n`);
  }

  /** Removes secrets whose recovery window has passed, as AWS's background deletion would. */
  #purgeExpired(): void {
    const now = epochSeconds();
    let purged = false;
    for (const [name, secret] of this.#secrets) {
      if (secret.deletionDate !== undefined && secret.deletionDate <= now) {
        this.#secrets.delete(name);
        purged = true;
      }
    }
    if (purged) this.#save();
  }

  /** A secret by name, full ARN or ARN without its random suffix. */
  #find(secretId: string): Secret | undefined {
    this.#purgeExpired();
    const byName = this.#secrets.get(secretId);
    if (byName !== undefined) return byName;
    return [...this.#secrets.values()].find((secret) => secret.arn === secretId || secret.arn.slice(0, -7) === secretId);
  }

  #require(input: JsonObject): Secret {
    const secret = this.#find(requiredString(input, 'SecretId'));
    if (secret === undefined) throw notFound();
    return secret;
  }

  /** A secret that is not scheduled for deletion, the precondition for reading or changing its value. */
  #requireActive(input: JsonObject): Secret {
    const secret = this.#require(input);
    if (secret.deletionDate !== undefined) throw new AwsServiceError('InvalidRequestException', MARKED_FOR_DELETION);
    return secret;
  }

  /**
   * Adds a version carrying `stages`, moving those labels off older versions; when AWSCURRENT moves,
   * the old current version becomes AWSPREVIOUS. Versions left without labels are dropped.
   * A repeated ClientRequestToken with the same value is a no-op, as AWS documents for retries.
   */
  #addVersion(secret: Secret, value: SecretValue, token: string | undefined, stages: string[]): SecretVersion {
    const existing = token === undefined ? undefined : secret.versions.find((version) => version.versionId === token);
    if (existing !== undefined) {
      if (existing.secretString === value.secretString && existing.secretBinary === value.secretBinary) return existing;
      throw new AwsServiceError('ResourceExistsException', "You can't modify an existing version, you can only create a new version.");
    }
    const now = epochSeconds();
    const movesCurrent = stages.includes(CURRENT);
    const labels = movesCurrent ? [...stages, PREVIOUS] : stages;
    for (const version of secret.versions) {
      const wasCurrent = version.stages.includes(CURRENT);
      version.stages = version.stages.filter((stage) => !labels.includes(stage));
      if (movesCurrent && wasCurrent) version.stages.push(PREVIOUS);
    }
    const version: SecretVersion = { versionId: token ?? randomUUID(), ...value, createdDate: now, stages: [...stages] };
    secret.versions = [...secret.versions.filter((older) => older.stages.length > 0), version];
    secret.lastChangedDate = now;
    return version;
  }

  #createSecret(input: JsonObject): JsonObject {
    const name = requiredString(input, 'Name');
    if (!NAME_PATTERN.test(name)) {
      throw new AwsServiceError(
        'InvalidParameterException',
        'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!',
      );
    }
    const value = readValue(input);
    const token = optionalString(input, 'ClientRequestToken');
    const existing = this.#find(name);
    if (existing !== undefined) {
      if (existing.deletionDate !== undefined) {
        throw new AwsServiceError(
          'InvalidRequestException',
          "You can't create this secret because a secret with this name is already scheduled for deletion.",
        );
      }
      const retried = existing.versions.find((version) => version.versionId === token);
      if (retried !== undefined && retried.secretString === value?.secretString && retried.secretBinary === value?.secretBinary) {
        return { ARN: existing.arn, Name: existing.name, VersionId: retried.versionId };
      }
      throw new AwsServiceError('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
    }
    const now = epochSeconds();
    const secret: Secret = {
      name,
      arn: `arn:aws:secretsmanager:${this.config.region}:${this.config.accountId}:secret:${name}-${arnSuffix()}`,
      description: optionalString(input, 'Description'),
      tags: readTags(input),
      createdDate: now,
      lastChangedDate: now,
      versions: [],
    };
    const version = value === undefined ? undefined : this.#addVersion(secret, value, token, [CURRENT]);
    this.#secrets.set(name, secret);
    this.#save();
    return { ARN: secret.arn, Name: secret.name, VersionId: version?.versionId };
  }

  #getSecretValue(input: JsonObject): JsonObject {
    const secret = this.#requireActive(input);
    const versionId = optionalString(input, 'VersionId');
    const stage = optionalString(input, 'VersionStage');
    const version =
      versionId === undefined
        ? secret.versions.find((candidate) => candidate.stages.includes(stage ?? CURRENT))
        : secret.versions.find((candidate) => candidate.versionId === versionId && (stage === undefined || candidate.stages.includes(stage)));
    if (version === undefined) {
      throw notFound(
        versionId === undefined
          ? `Secrets Manager can't find the specified secret value for staging label: ${stage ?? CURRENT}`
          : `Secrets Manager can't find the specified secret value for VersionId: ${versionId}`,
      );
    }
    // Kept in memory only: reads should not rewrite the state file.
    secret.lastAccessedDate = today();
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.versionId,
      SecretString: version.secretString,
      SecretBinary: version.secretBinary,
      VersionStages: [...version.stages],
      CreatedDate: version.createdDate,
    };
  }

  #putSecretValue(input: JsonObject): JsonObject {
    const secret = this.#requireActive(input);
    const value = readValue(input);
    if (value === undefined) throw new AwsServiceError('InvalidRequestException', 'You must provide either SecretString or SecretBinary.');
    const stages = optionalStringArray(input, 'VersionStages') ?? [CURRENT];
    const version = this.#addVersion(secret, value, optionalString(input, 'ClientRequestToken'), stages);
    this.#save();
    return { ARN: secret.arn, Name: secret.name, VersionId: version.versionId, VersionStages: [...version.stages] };
  }

  #updateSecret(input: JsonObject): JsonObject {
    const secret = this.#requireActive(input);
    const description = optionalString(input, 'Description');
    const value = readValue(input);
    if (description !== undefined) {
      secret.description = description;
      secret.lastChangedDate = epochSeconds();
    }
    const version = value === undefined ? undefined : this.#addVersion(secret, value, optionalString(input, 'ClientRequestToken'), [CURRENT]);
    this.#save();
    return { ARN: secret.arn, Name: secret.name, VersionId: version?.versionId };
  }

  #describeSecret(input: JsonObject): JsonObject {
    const secret = this.#require(input);
    return { ...secretMetadata(secret), VersionIdsToStages: versionsToStages(secret) };
  }

  #listSecrets(input: JsonObject): JsonObject {
    this.#purgeExpired();
    const includePlannedDeletion = optionalBoolean(input, 'IncludePlannedDeletion') ?? false;
    const filters = optionalObjectArray(input, 'Filters') ?? [];
    const sortOrder = optionalString(input, 'SortOrder');
    const secrets = [...this.#secrets.values()].filter(
      (secret) =>
        (includePlannedDeletion || secret.deletionDate === undefined) && filters.every((filter) => matchesFilter(secret, filter)),
    );
    if (sortOrder === 'desc') secrets.reverse();
    const { page, nextToken } = paginate(
      secrets,
      optionalString(input, 'NextToken'),
      pageLimit(input, 'MaxResults', 100),
      'InvalidNextTokenException',
    );
    return {
      SecretList: page.map((secret) => ({ ...secretMetadata(secret), SecretVersionsToStages: versionsToStages(secret) })),
      NextToken: nextToken,
    };
  }

  #deleteSecret(input: JsonObject): JsonObject {
    const force = optionalBoolean(input, 'ForceDeleteWithoutRecovery') ?? false;
    const recoveryWindow = optionalNumber(input, 'RecoveryWindowInDays');
    if (force && recoveryWindow !== undefined) {
      throw new AwsServiceError(
        'InvalidParameterException',
        "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
      );
    }
    const days = recoveryWindow ?? 30;
    if (!Number.isInteger(days) || days < 7 || days > 30) {
      throw new AwsServiceError('InvalidParameterException', 'The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).');
    }
    const secret = this.#require(input);
    if (force) {
      this.#secrets.delete(secret.name);
      this.#save();
      return { ARN: secret.arn, Name: secret.name, DeletionDate: epochSeconds() };
    }
    if (secret.deletionDate !== undefined) throw new AwsServiceError('InvalidRequestException', MARKED_FOR_DELETION);
    secret.deletionDate = epochSeconds() + days * DAY_SECONDS;
    this.#save();
    return { ARN: secret.arn, Name: secret.name, DeletionDate: secret.deletionDate };
  }
}
