import { ENV } from '../../shared/config/env-names';
import { ConfigError } from '../../shared/config/env-parsing';
import { INTAKE_DEFAULTS, loadIntakeConfig } from '../../shared/config/intake-config';

function requiredEnv(): NodeJS.ProcessEnv {
  return {
    [ENV.connectionsTable]: 'connections',
    [ENV.deliveriesTable]: 'deliveries',
    [ENV.eventBus]: 'graph-relay-bus',
    [ENV.webhookSecretPrefix]: 'graph-relay/test/integrations/',
    AWS_REGION: 'eu-west-1',
  };
}

function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadIntakeConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadIntakeConfig', () => {
  it('reads the required variables and applies the defaults', () => {
    // Prepare
    const env = requiredEnv();

    // Act
    const config = loadIntakeConfig(env);

    // Assess
    expect(config).toEqual({
      connectionsTable: 'connections',
      deliveriesTable: 'deliveries',
      eventBusName: 'graph-relay-bus',
      webhookSecretPrefix: 'graph-relay/test/integrations/',
      eventSource: 'graph-relay',
      secretMaxAgeSeconds: 300,
      routeCacheMaxEntries: 20_000,
      routeCacheMaxAgeSeconds: 300,
      routeCacheNegativeMaxAgeSeconds: 30,
      registryRefreshSeconds: 30,
      registryMinRefreshSeconds: 5,
      redeliveryWindowSeconds: 16_200,
      payloadBucket: undefined,
      healthCacheSeconds: 10,
      region: 'eu-west-1',
    });
    expect(config.redeliveryWindowSeconds).toBe(INTAKE_DEFAULTS.redeliveryWindowSeconds);
  });

  it('reads the optional variables when set', () => {
    // Prepare
    const env = {
      ...requiredEnv(),
      [ENV.eventSource]: 'custom.source',
      [ENV.secretMaxAgeSeconds]: '60',
      [ENV.routeCacheMaxEntries]: '500',
      [ENV.routeCacheMaxAgeSeconds]: '0',
      [ENV.routeCacheNegativeMaxAgeSeconds]: '5',
      [ENV.registryRefreshSeconds]: '10',
      [ENV.redeliveryWindowSeconds]: '86400',
      [ENV.healthCacheSeconds]: '0',
      [ENV.relayRegion]: 'eu-central-1',
    };

    // Act
    const config = loadIntakeConfig(env);

    // Assess
    expect(config).toEqual(
      expect.objectContaining({
        eventSource: 'custom.source',
        secretMaxAgeSeconds: 60,
        routeCacheMaxEntries: 500,
        routeCacheMaxAgeSeconds: 0,
        routeCacheNegativeMaxAgeSeconds: 5,
        registryRefreshSeconds: 10,
        redeliveryWindowSeconds: 86_400,
        healthCacheSeconds: 0,
        region: 'eu-central-1',
      }),
    );
  });

  it('takes the region from AWS_REGION when RELAY_REGION is blank', () => {
    // Prepare
    const env = { ...requiredEnv(), [ENV.relayRegion]: ' ' };

    // Act
    const config = loadIntakeConfig(env);

    // Assess
    expect(config.region).toBe('eu-west-1');
  });

  it('refuses an environment that names no region, naming RELAY_REGION', () => {
    // Prepare
    const { AWS_REGION: _region, ...env } = requiredEnv();

    // Act
    const error = configError(env);

    // Assess
    expect(error.message).toContain(ENV.relayRegion);
  });

  it.each([ENV.connectionsTable, ENV.deliveriesTable, ENV.eventBus, ENV.webhookSecretPrefix])(
    'refuses a missing %s with a ConfigError naming it',
    (name) => {
      // Prepare
      const env = requiredEnv();
      delete env[name];

      // Act
      const error = configError(env);

      // Assess
      expect(error.message).toContain(name);
    },
  );

  it.each([ENV.connectionsTable, ENV.deliveriesTable, ENV.eventBus, ENV.webhookSecretPrefix])('refuses an empty %s', (name) => {
    // Prepare
    const env = { ...requiredEnv(), [name]: '' };

    // Act
    const error = configError(env);

    // Assess
    expect(error.message).toContain(name);
  });

  it('names every missing variable at once', () => {
    // Prepare
    const env = {};

    // Act
    const error = configError(env);

    // Assess
    for (const name of [ENV.connectionsTable, ENV.deliveriesTable, ENV.eventBus, ENV.webhookSecretPrefix]) {
      expect(error.message).toContain(name);
    }
  });

  it.each(['16199', '3600', '0'])('refuses a redelivery window of %s seconds, below 4.5 hours', (value) => {
    // Prepare
    const env = { ...requiredEnv(), [ENV.redeliveryWindowSeconds]: value };

    // Act
    const error = configError(env);

    // Assess
    expect(error.message).toContain(ENV.redeliveryWindowSeconds);
  });

  it('accepts a redelivery window of exactly 4.5 hours', () => {
    // Prepare
    const env = { ...requiredEnv(), [ENV.redeliveryWindowSeconds]: '16200' };

    // Act
    const config = loadIntakeConfig(env);

    // Assess
    expect(config.redeliveryWindowSeconds).toBe(16_200);
  });

  it.each<[string, string]>([
    [ENV.secretMaxAgeSeconds, 'five minutes'],
    [ENV.secretMaxAgeSeconds, '-1'],
    [ENV.secretMaxAgeSeconds, '1.5'],
    [ENV.routeCacheMaxAgeSeconds, 'abc'],
    // An empty cache or a registry read on every request would defeat their purpose.
    [ENV.routeCacheMaxEntries, '0'],
    [ENV.registryRefreshSeconds, '0'],
    [ENV.routeCacheNegativeMaxAgeSeconds, '-5'],
    [ENV.redeliveryWindowSeconds, '4.5h'],
    [ENV.healthCacheSeconds, '-1'],
  ])('refuses %s=%s', (name, value) => {
    // Prepare
    const env = { ...requiredEnv(), [name]: value };

    // Act
    const error = configError(env);

    // Assess
    expect(error.message).toContain(name);
  });

  // Number('') is 0: a blank variable (`SECRET_MAX_AGE_SECONDS=` in a .env file) must mean the default, not 0 s.
  it.each<[string, keyof ReturnType<typeof loadIntakeConfig>, number, string]>([
    [ENV.secretMaxAgeSeconds, 'secretMaxAgeSeconds', INTAKE_DEFAULTS.secretMaxAgeSeconds, ''],
    [ENV.secretMaxAgeSeconds, 'secretMaxAgeSeconds', INTAKE_DEFAULTS.secretMaxAgeSeconds, '  '],
    [ENV.routeCacheMaxEntries, 'routeCacheMaxEntries', INTAKE_DEFAULTS.routeCacheMaxEntries, ''],
    [ENV.routeCacheMaxAgeSeconds, 'routeCacheMaxAgeSeconds', INTAKE_DEFAULTS.routeCacheMaxAgeSeconds, ''],
    [ENV.routeCacheNegativeMaxAgeSeconds, 'routeCacheNegativeMaxAgeSeconds', INTAKE_DEFAULTS.routeCacheNegativeMaxAgeSeconds, ''],
    [ENV.registryRefreshSeconds, 'registryRefreshSeconds', INTAKE_DEFAULTS.registryRefreshSeconds, ''],
    [ENV.healthCacheSeconds, 'healthCacheSeconds', INTAKE_DEFAULTS.healthCacheSeconds, ''],
  ])('does not silently read an empty %s as 0 (default or refusal expected)', (name, field, defaultValue, value) => {
    // Prepare
    const env = { ...requiredEnv(), [name]: value };

    // Act
    let outcome: unknown;
    try {
      outcome = loadIntakeConfig(env)[field];
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      outcome = 'refused';
    }

    // Assess
    expect([defaultValue, 'refused']).toContain(outcome);
  });
});
