import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { parseStageConfig, STAGE_NAMES, StageConfigError, webhookUrlOutputId, type MultiRegionSettings, type StageSettings } from '../../infra/stage-config';

const valid: StageSettings = {
  eventSource: 'graph-relay',
  retainData: false,
  logRetention: RetentionDays.ONE_DAY,
  intakeMemoryMb: 1024,
  archiveRetentionDays: 1,
  webhookThrottle: { rateLimit: 1, burstLimit: 1 },
  reservedConcurrency: { intake: 'unreserved', lifecycle: 'unreserved' },
  renewalIntervalMinutes: 15,
  reconcileIntervalMinutes: 60,
  resyncEveryHours: 24,
  integrations: { contoso: 'microsoft-oauth2-cc' },
};

describe('stage entries', () => {
  it.each(STAGE_NAMES)('accepts the %s entry as written', (stage) => {
    // Act
    const config = parseStageConfig(stage);

    // Assess
    expect(config.stage).toBe(stage);
    expect(config.webhookSecretPrefix).toBe(`graph-relay/${stage}/integrations/`);
  });

  it('takes a new stage by adding an entry', () => {
    // Act
    const config = parseStageConfig('staging', { staging: { ...valid, alarmEmail: 'ops@example.com' } });

    // Assess
    expect(config).toMatchObject({ stage: 'staging', alarmEmail: 'ops@example.com', webhookSecretPrefix: 'graph-relay/staging/integrations/' });
  });

  it.each<[string, Partial<StageSettings>]>([
    ['reserved concurrency', { reservedConcurrency: { intake: 100, lifecycle: 1 } }],
    ['an explicit opt-out of reserved concurrency', { reservedConcurrency: { intake: 'unreserved', lifecycle: 'unreserved' } }],
    ['a fractional throttle rate', { webhookThrottle: { rateLimit: 0.5, burstLimit: 1 } }],
    ['a firewall at WAF\'s lowest rate limit', { webhookFirewall: { requestsPerIpPer5Minutes: 10 } }],
    ['consumer accounts and an organization', { consumerAccounts: ['111122223333', '444455556666', 'o-a1b2c3d4e5'] }],
    ['no consumer accounts', { consumerAccounts: [] }],
  ])('accepts %s', (_case, change) => {
    // Act
    const parse = () => parseStageConfig('qa', { qa: { ...valid, ...change } });

    // Assess
    expect(parse).not.toThrow();
  });

  it('accepts an alarm topic ARN in any partition', () => {
    // Act
    const parse = () => parseStageConfig('qa', { qa: { ...valid, alarmTopicArn: 'arn:aws-us-gov:sns:us-gov-west-1:123456789012:ops-alarms' } });

    // Assess
    expect(parse).not.toThrow();
  });

  it.each<[string, Partial<StageSettings>, string]>([
    ['an e-mail without a domain', { alarmEmail: 'ops' }, 'Stage "qa": alarmEmail must be an e-mail address, got "ops".'],
    [
      'a topic ARN of another service',
      { alarmTopicArn: 'arn:aws:sqs:eu-west-1:123456789012:alarms' },
      'Stage "qa": alarmTopicArn must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>), got "arn:aws:sqs:eu-west-1:123456789012:alarms".',
    ],
    [
      'both alarm destinations',
      { alarmEmail: 'ops@example.com', alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:alarms' },
      'Stage "qa": alarmEmail and alarmTopicArn are exclusive: alarms go to the stack\'s topic or to the given one.',
    ],
    [
      'an integration id with a slash',
      { integrations: { 'contoso/mail': 'microsoft-oauth2-cc' } },
      'Stage "qa": integrations["contoso/mail"] is not a valid integration id (integration id must be 1-64 characters: letters, digits, ".", "_", "-").',
    ],
    [
      'an empty provider',
      { integrations: { contoso: '' } },
      'Stage "qa": integrations["contoso"] must name a provider (lower-case letters, digits and "-"), got "".',
    ],
    [
      'a reserved concurrency of 0',
      { reservedConcurrency: { intake: 0, lifecycle: 'unreserved' } },
      'Stage "qa": reservedConcurrency.intake is 0, which would stop the function (Lambda throttles every invocation): use \'unreserved\' to opt out.',
    ],
    [
      'a fractional reserved concurrency',
      { reservedConcurrency: { intake: 'unreserved', lifecycle: 2.5 } },
      'Stage "qa": reservedConcurrency.lifecycle must be a whole number of concurrent executions, at least 1, or \'unreserved\', got 2.5.',
    ],
    [
      'a misspelt opt-out',
      { reservedConcurrency: { intake: 'none' as unknown as number, lifecycle: 'unreserved' } },
      'Stage "qa": reservedConcurrency.intake must be a whole number of concurrent executions, at least 1, or \'unreserved\', got "none".',
    ],
    [
      'a throttle rate of 0',
      { webhookThrottle: { rateLimit: 0, burstLimit: 10 } },
      'Stage "qa": webhookThrottle.rateLimit must be a number of requests per second above 0 (0 would refuse every delivery), got 0.',
    ],
    [
      'a burst of 0',
      { webhookThrottle: { rateLimit: 10, burstLimit: 0 } },
      'Stage "qa": webhookThrottle.burstLimit must be a whole number of requests, at least 1, got 0.',
    ],
    [
      'a firewall rate limit below WAF\'s minimum',
      { webhookFirewall: { requestsPerIpPer5Minutes: 9 } },
      'Stage "qa": webhookFirewall.requestsPerIpPer5Minutes must be a whole number from 10 to 2000000000 (WAF\'s bounds), got 9.',
    ],
    [
      'two ids sharing an output',
      { integrations: { 'contoso-mail': 'microsoft-oauth2-cc', contoso_mail: 'microsoft-oauth2-cc' } },
      'Stage "qa": integrations["contoso_mail"] and "contoso-mail" would share the stack output WebhookUrlContosoMail.',
    ],
    [
      'a consumer account id that is too short',
      { consumerAccounts: ['11112222333'] },
      'Stage "qa": consumerAccounts[0] must be a 12-digit AWS account id or an AWS Organizations id (o-…), got "11112222333".',
    ],
    [
      'a consumer given as an ARN',
      { consumerAccounts: ['111122223333', 'arn:aws:iam::444455556666:root'] },
      'Stage "qa": consumerAccounts[1] must be a 12-digit AWS account id or an AWS Organizations id (o-…), got "arn:aws:iam::444455556666:root".',
    ],
    [
      'an organization id of the wrong shape',
      { consumerAccounts: ['o-abc'] },
      'Stage "qa": consumerAccounts[0] must be a 12-digit AWS account id or an AWS Organizations id (o-…), got "o-abc".',
    ],
    [
      'a consumer listed twice',
      { consumerAccounts: ['111122223333', '111122223333'] },
      'Stage "qa": consumerAccounts lists "111122223333" twice.',
    ],
  ])('refuses %s in one line naming the stage and the field', (_case, change, message) => {
    // Act
    const parse = () => parseStageConfig('qa', { qa: { ...valid, ...change } });

    // Assess
    expect(parse).toThrow(StageConfigError);
    expect(parse).toThrow(message);
    expect(message).not.toContain('\n');
  });
});

describe('multiRegion', () => {
  const multi: MultiRegionSettings = {
    primaryRegion: 'eu-west-1',
    secondaryRegion: 'eu-central-1',
    witnessRegion: 'eu-west-3',
    webhookDomain: 'graph.example.com',
    hostedZoneId: 'Z0123456789ABCDEFGHIJ',
    hostedZoneName: 'example.com',
  };

  it.each<[string, Partial<MultiRegionSettings>]>([
    ['two regions of a zone', {}],
    ['the zone apex as the domain, and a zone name ending in a dot', { webhookDomain: 'example.com', hostedZoneName: 'example.com.' }],
    ['a US trio', { primaryRegion: 'us-east-1', secondaryRegion: 'us-west-2', witnessRegion: 'us-east-2' }],
  ])('accepts %s', (_case, change) => {
    // Act
    const config = parseStageConfig('qa', { qa: { ...valid, multiRegion: { ...multi, ...change } } });

    // Assess
    expect(config.multiRegion).toEqual({ ...multi, ...change });
  });

  it.each<[string, Partial<MultiRegionSettings>, string]>([
    ['a region that is not one', { primaryRegion: 'Ireland' }, 'Stage "qa": multiRegion.primaryRegion must be an AWS region name such as eu-west-1, got "Ireland".'],
    ['an availability zone for a region', { secondaryRegion: 'eu-central-1a' }, 'Stage "qa": multiRegion.secondaryRegion must be an AWS region name such as eu-west-1, got "eu-central-1a".'],
    ['the same region twice', { secondaryRegion: 'eu-west-1' }, 'Stage "qa": multiRegion.secondaryRegion must differ from primaryRegion (both "eu-west-1"): a replica needs another region.'],
    ['a witness that is one of the two', { witnessRegion: 'eu-central-1' }, 'Stage "qa": multiRegion.witnessRegion must be a third region, not one of the two the relay runs in ("eu-central-1").'],
    [
      'regions of two strong-consistency region sets',
      { secondaryRegion: 'us-east-1' },
      'Stage "qa": multiRegion regions eu-west-1, us-east-1 and witness eu-west-3 are not in one region set of DynamoDB\'s multi-Region strong consistency, which the writer lease needs (US: us-east-1, us-east-2, us-west-2; EU: eu-west-1, eu-west-2, eu-west-3, eu-central-1; AP: ap-northeast-1, ap-northeast-2, ap-northeast-3).',
    ],
    [
      'a zone id with its /hostedzone/ prefix',
      { hostedZoneId: '/hostedzone/Z0123456789ABCDEFGHIJ' },
      'Stage "qa": multiRegion.hostedZoneId must be a Route 53 hosted zone id (Z followed by upper-case letters and digits), got "/hostedzone/Z0123456789ABCDEFGHIJ".',
    ],
    ['a zone name with a scheme', { hostedZoneName: 'https://example.com' }, 'Stage "qa": multiRegion.hostedZoneName must be a lower-case DNS name such as example.com, got "https://example.com".'],
    ['a URL for the domain', { webhookDomain: 'https://graph.example.com/' }, 'Stage "qa": multiRegion.webhookDomain must be a lower-case host name such as graph.example.com, got "https://graph.example.com/".'],
    [
      'a domain outside the zone',
      { webhookDomain: 'graph.example.org' },
      'Stage "qa": multiRegion.webhookDomain "graph.example.org" is not inside the hosted zone "example.com": its records and certificate validation go there.',
    ],
    ['a domain that only ends like the zone', { webhookDomain: 'notexample.com' }, 'Stage "qa": multiRegion.webhookDomain "notexample.com" is not inside the hosted zone "example.com": its records and certificate validation go there.'],
  ])('refuses %s in one line naming the stage and the field', (_case, change, message) => {
    // Act
    const parse = () => parseStageConfig('qa', { qa: { ...valid, multiRegion: { ...multi, ...change } } });

    // Assess
    expect(parse).toThrow(StageConfigError);
    expect(parse).toThrow(message);
    expect(message).not.toContain('\n');
  });

  it('refuses it with webhookFirewall, saying what is missing', () => {
    // Act
    const parse = () => parseStageConfig('qa', { qa: { ...valid, multiRegion: multi, webhookFirewall: { requestsPerIpPer5Minutes: 1000 } } });

    // Assess
    expect(parse).toThrow(StageConfigError);
    expect(parse).toThrow(
      'Stage "qa": multiRegion cannot be combined with webhookFirewall yet: CloudFront would need an origin group failing over between the two regional APIs, and the origin-verify value shared by both (not built).',
    );
  });

  it('is in no stage as written: a multi-region stage is added as an entry', () => {
    // Act
    const configured = STAGE_NAMES.map((stage) => parseStageConfig(stage).multiRegion);

    // Assess
    expect(configured).toEqual(STAGE_NAMES.map(() => undefined));
  });
});

describe('webhookUrlOutputId', () => {
  it.each([
    ['contoso', 'WebhookUrlContoso'],
    ['acme.mail-v2', 'WebhookUrlAcmeMailV2'],
    ['Fabrikam_EU', 'WebhookUrlFabrikamEU'],
  ])('names the output of %s %s', (integrationId, outputId) => {
    // Act
    const id = webhookUrlOutputId(integrationId);

    // Assess
    expect(id).toBe(outputId);
  });
});

describe('cdk app', () => {
  it('fails a bad stage with one line on stderr, before building anything', () => {
    // Prepare
    const root = fileURLToPath(new URL('../..', import.meta.url));

    // Act
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'infra/app.ts'], {
      cwd: root,
      env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ stage: 'staging' }) },
      encoding: 'utf8',
    });

    // Assess
    expect(run.status).toBe(1);
    expect(run.stderr.trim()).toBe('Unknown stage "staging": use -c stage=<dev|prod>.');
    expect(run.stdout).toBe('');
  });
});
