/**
 * Integration secrets in a multi-region stage: the CLI's Secrets Manager store creates a secret with its replicas
 * (CreateSecret's AddReplicaRegions) and gives an existing one the replicas it lacks (ReplicateSecretToRegions), over
 * a real SecretsManagerClient whose `send` is replaced, so the commands are the SDK's own.
 */
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  ReplicateSecretToRegionsCommand,
  SecretsManagerClient,
  type DescribeSecretCommandOutput,
} from '@aws-sdk/client-secrets-manager';
import { SecretsManagerSecretStore } from '../../cli/secret-store';

const NAME = 'graph-relay/global/integrations/contoso';

function stubClient(described: Partial<DescribeSecretCommandOutput> = {}) {
  const client = new SecretsManagerClient({ region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  const sent: { command: string; input: unknown }[] = [];
  const send = async (command: unknown) => {
    if (command instanceof CreateSecretCommand || command instanceof ReplicateSecretToRegionsCommand) {
      sent.push({ command: command.constructor.name, input: command.input });
      return { $metadata: {} };
    }
    if (command instanceof DescribeSecretCommand) return { $metadata: {}, Name: NAME, ...described };
    throw new Error('unexpected command');
  };
  Object.assign(client, { send });
  return { store: new SecretsManagerSecretStore(client), sent };
}

describe('SecretsManagerSecretStore in a multi-region stage', () => {
  it('creates a secret with a replica in each region the stack names', async () => {
    // Prepare
    const { store, sent } = stubClient();

    // Act
    await store.create(NAME, '{"webhookSecret":"s"}', ['eu-central-1']);

    // Assess
    expect(sent).toEqual([
      { command: 'CreateSecretCommand', input: { Name: NAME, SecretString: '{"webhookSecret":"s"}', AddReplicaRegions: [{ Region: 'eu-central-1' }] } },
    ]);
  });

  it('creates a secret of a single-region stage exactly as before', async () => {
    // Prepare
    const { store, sent } = stubClient();

    // Act
    await store.create(NAME, '{}');

    // Assess
    expect(sent).toEqual([{ command: 'CreateSecretCommand', input: { Name: NAME, SecretString: '{}' } }]);
  });

  it('replicates an existing secret to the regions it has no replica in, and says which', async () => {
    // Prepare
    const { store, sent } = stubClient({ PrimaryRegion: 'eu-west-1', ReplicationStatus: [{ Region: 'us-east-1', Status: 'InSync' }] });

    // Act
    const added = await store.replicate(NAME, ['us-east-1', 'eu-central-1']);

    // Assess
    expect(added).toEqual(['eu-central-1']);
    expect(sent).toEqual([{ command: 'ReplicateSecretToRegionsCommand', input: { SecretId: NAME, AddReplicaRegions: [{ Region: 'eu-central-1' }] } }]);
  });

  it('asks nothing when every replica exists', async () => {
    // Prepare
    const { store, sent } = stubClient({ ReplicationStatus: [{ Region: 'eu-central-1', Status: 'InSync' }] });

    // Act
    const added = await store.replicate(NAME, ['eu-central-1']);

    // Assess
    expect(added).toEqual([]);
    expect(sent).toEqual([]);
  });

  it('leaves a replica alone: its primary, in another region, replicates it', async () => {
    // Prepare
    const { store, sent } = stubClient({ PrimaryRegion: 'eu-central-1' });

    // Act
    const added = await store.replicate(NAME, ['eu-central-1']);

    // Assess
    expect(added).toEqual([]);
    expect(sent).toEqual([]);
  });
});
