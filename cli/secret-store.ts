import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ReplicateSecretToRegionsCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { CommandFailedError } from './output';

export type SecretStatus = 'present' | 'missing' | 'scheduled for deletion';

/** The few Secrets Manager operations the CLI needs, by secret name. */
export interface SecretStore {
  /** The secret's string value, or `undefined` when no such secret exists. */
  read(name: string): Promise<string | undefined>;
  /** `replicaRegions`: other regions the secret is replicated to as it is created (a multi-region stage). */
  create(name: string, value: string, replicaRegions?: readonly string[]): Promise<void>;
  update(name: string, value: string): Promise<void>;
  /** Metadata only: never reads the value. */
  status(name: string): Promise<SecretStatus>;
  /** Deletes it at once (no recovery window, so the name can be used again); false when there was none. */
  delete(name: string): Promise<boolean>;
  /**
   * Replicates an existing secret to those of `regions` it has no replica in yet, and returns them (none: nothing to
   * do). Absent from a store that cannot replicate.
   */
  replicate?(name: string, regions: readonly string[]): Promise<readonly string[]>;
}

const replicaRegionsOf = (regions: readonly string[]) => regions.map((Region) => ({ Region }));

export class SecretsManagerSecretStore implements SecretStore {
  constructor(private readonly client: SecretsManagerClient) {}

  async read(name: string): Promise<string | undefined> {
    try {
      const { SecretString } = await this.client.send(new GetSecretValueCommand({ SecretId: name }));
      if (SecretString === undefined) throw new CommandFailedError(`secret ${name} holds binary data, not JSON text`);
      return SecretString;
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return undefined;
      throw error;
    }
  }

  async create(name: string, value: string, replicaRegions: readonly string[] = []): Promise<void> {
    await this.client.send(
      new CreateSecretCommand({ Name: name, SecretString: value, ...(replicaRegions.length === 0 ? {} : { AddReplicaRegions: replicaRegionsOf(replicaRegions) }) }),
    );
  }

  async replicate(name: string, regions: readonly string[]): Promise<readonly string[]> {
    const { ReplicationStatus, PrimaryRegion } = await this.client.send(new DescribeSecretCommand({ SecretId: name }));
    // A replica (its primary in another region) is replicated from there, not from here.
    if (PrimaryRegion !== undefined && PrimaryRegion !== (await this.client.config.region())) return [];
    const replicated = new Set((ReplicationStatus ?? []).map((replica) => replica.Region));
    const missing = regions.filter((region) => !replicated.has(region));
    if (missing.length > 0) await this.client.send(new ReplicateSecretToRegionsCommand({ SecretId: name, AddReplicaRegions: replicaRegionsOf(missing) }));
    return missing;
  }

  async update(name: string, value: string): Promise<void> {
    await this.client.send(new PutSecretValueCommand({ SecretId: name, SecretString: value }));
  }

  async delete(name: string): Promise<boolean> {
    try {
      await this.client.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }));
      return true;
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return false;
      throw error;
    }
  }

  async status(name: string): Promise<SecretStatus> {
    try {
      const { DeletedDate } = await this.client.send(new DescribeSecretCommand({ SecretId: name }));
      return DeletedDate === undefined ? 'present' : 'scheduled for deletion';
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return 'missing';
      throw error;
    }
  }
}

/** The stored secret as a JSON object, so fields a command does not own survive the update. */
export async function readSecretObject(secrets: SecretStore, name: string, command: string): Promise<Record<string, unknown> | undefined> {
  const text = await secrets.read(name);
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CommandFailedError(`secret ${name} is not JSON; fix or delete it before running ${command}`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new CommandFailedError(`secret ${name} is not a JSON object; fix or delete it before running ${command}`);
  }
  return json as Record<string, unknown>;
}
