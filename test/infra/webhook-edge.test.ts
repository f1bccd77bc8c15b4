/**
 * The edge: the webhook behind CloudFront and AWS WAF when a stage sets webhookFirewall, and exactly the plain HTTP
 * API when it does not.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import { VALIDATION_REPORT_FILE } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import { FIREWALL_RULES } from '../../infra/constructs/webhook-firewall';
import { composeGraphRelayApp } from '../../infra/graph-relay-app';
import { parseStageConfig, STAGE_NAMES, StageConfigError, type StageName } from '../../infra/stage-config';
import { ENV, PAYLOAD_BUCKET_ENV } from '../../shared/config/env-names';
import { ORIGIN_HEADER, ORIGIN_VERIFY_ENV } from '../../shared/intake/origin-check';
import { cdkJsonContext, resourceIn, resourcesOf, soleResource, withInlineFunctionCode } from './helpers';

const REQUESTS_PER_IP = 30_000;

/** A real stage with the firewall on, validated like any entry. */
function firewalled(stage: StageName) {
  const { stage: _name, webhookSecretPrefix: _prefix, ...settings } = parseStageConfig(stage);
  return parseStageConfig(stage, { [stage]: { ...settings, webhookFirewall: { requestsPerIpPer5Minutes: REQUESTS_PER_IP } } });
}

function compose(stage: StageName, options: { firewall: boolean; region?: string }) {
  const app = new App({ context: { ...cdkJsonContext, stage } });
  const config = options.firewall ? firewalled(stage) : parseStageConfig(stage);
  const stack = composeGraphRelayApp(app, config, options.region === undefined ? {} : { region: options.region });
  return { app, stack };
}

// The bundles are not under test here (graph-relay-stack.test.ts deploys them as built).
withInlineFunctionCode();

describe('behind the firewall (prod with webhookFirewall, deployed to eu-west-1)', () => {
  let app: App;
  let relay: Template;
  let firewall: Template;

  beforeAll(() => {
    ({ app } = compose('prod', { firewall: true, region: 'eu-west-1' }));
    relay = Template.fromStack(app.node.findChild('GraphRelay-prod') as never);
    firewall = Template.fromStack(app.node.findChild('GraphRelay-prod-Firewall') as never);
  });

  it('keeps the web ACL in a us-east-1 stack of its own: a per-IP rate limit answering 429, then the Amazon IP reputation list, else allow', () => {
    // Act
    const [, webAcl] = soleResource(firewall, 'AWS::WAFv2::WebACL');
    const stack = app.node.findChild('GraphRelay-prod-Firewall') as unknown as { region: string };

    // Assess
    expect(stack.region).toBe('us-east-1');
    expect(webAcl.Properties).toMatchObject({ Scope: 'CLOUDFRONT', DefaultAction: { Allow: {} } });
    expect(webAcl.Properties['Rules']).toEqual([
      {
        Name: FIREWALL_RULES.ratePerIp,
        Priority: 0,
        Statement: { RateBasedStatement: { Limit: REQUESTS_PER_IP, EvaluationWindowSec: 300, AggregateKeyType: 'IP' } },
        Action: { Block: { CustomResponse: { ResponseCode: 429 } } },
        VisibilityConfig: { CloudWatchMetricsEnabled: true, SampledRequestsEnabled: true, MetricName: FIREWALL_RULES.ratePerIp },
      },
      {
        Name: FIREWALL_RULES.ipReputation,
        Priority: 1,
        Statement: { ManagedRuleGroupStatement: { VendorName: 'AWS', Name: 'AWSManagedRulesAmazonIpReputationList' } },
        OverrideAction: { None: {} },
        VisibilityConfig: { CloudWatchMetricsEnabled: true, SampledRequestsEnabled: true, MetricName: FIREWALL_RULES.ipReputation },
      },
    ]);
    // Its HostingProviderIPList blocks cloud providers' addresses, where Graph delivers from.
    expect(JSON.stringify(webAcl.Properties)).not.toContain('AWSManagedRulesAnonymousIpList');
  });

  it('puts a CloudFront distribution with that web ACL in front of the HTTP API, forwarding every method and query string uncached, over TLS 1.2', () => {
    // Prepare
    const [apiId] = soleResource(relay, 'AWS::ApiGatewayV2::Api');
    const [secretId] = soleResource(relay, 'AWS::SecretsManager::Secret');

    // Act
    const [, distribution] = soleResource(relay, 'AWS::CloudFront::Distribution');
    const config = distribution.Properties['DistributionConfig'] as Record<string, unknown> & { Origins: Record<string, unknown>[] };

    // Assess
    expect(config['WebACLId']).toEqual({ 'Fn::GetStackOutput': expect.objectContaining({ StackName: 'GraphRelay-prod-Firewall', Region: 'us-east-1' }) });
    expect(config['DefaultCacheBehavior']).toMatchObject({
      AllowedMethods: expect.arrayContaining(['POST']),
      CachePolicyId: cloudfront.CachePolicy.CACHING_DISABLED.cachePolicyId,
      OriginRequestPolicyId: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER.originRequestPolicyId,
      ViewerProtocolPolicy: 'https-only',
    });
    expect(config.Origins).toHaveLength(1);
    expect(config.Origins[0]).toMatchObject({
      DomainName: { 'Fn::Join': ['', [{ Ref: apiId }, '.execute-api.eu-west-1.', { Ref: 'AWS::URLSuffix' }]] },
      CustomOriginConfig: { OriginProtocolPolicy: 'https-only', OriginSSLProtocols: ['TLSv1.2'] },
      OriginCustomHeaders: [{ HeaderName: ORIGIN_HEADER, HeaderValue: { 'Fn::Join': ['', ['{{resolve:secretsmanager:', { Ref: secretId }, ':SecretString:::}}']] } }],
    });
  });

  it('gives the intake the value CloudFront sends, resolved from the same generated secret, and nothing else new', () => {
    // Prepare
    const [secretId, secret] = soleResource(relay, 'AWS::SecretsManager::Secret');

    // Act
    const [, intake] = resourceIn(relay, 'AWS::Lambda::Function', 'Intake');
    const variables = (intake.Properties['Environment'] as { Variables: Record<string, unknown> }).Variables;

    // Assess
    expect(secret.Properties['GenerateSecretString']).toEqual({ PasswordLength: 48, ExcludePunctuation: true });
    expect(variables[ORIGIN_VERIFY_ENV]).toEqual({ 'Fn::Join': ['', ['{{resolve:secretsmanager:', { Ref: secretId }, ':SecretString:::}}']] });
    expect(Object.keys(variables).sort()).toEqual(
      [ENV.connectionsTable, ENV.deliveriesTable, ENV.eventBus, ENV.eventSource, ENV.webhookSecretPrefix, PAYLOAD_BUCKET_ENV, 'POWERTOOLS_SERVICE_NAME', ORIGIN_VERIFY_ENV].sort(),
    );
  });

  it('addresses every subscription to the distribution: the outputs the CLI reads and the functions that create subscriptions', () => {
    // Prepare
    const [distributionId] = soleResource(relay, 'AWS::CloudFront::Distribution');
    const protectedBase = { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [distributionId, 'DomainName'] }, '/webhook/']] };

    // Act
    const outputs = relay.findOutputs('*');
    const creators = ['RenewalScheduleRenewal', 'LifecycleHandlerLifecycle', 'ReconcilerReconcile'].map(
      (prefix) => (resourceIn(relay, 'AWS::Lambda::Function', prefix)[1].Properties['Environment'] as { Variables: Record<string, unknown> }).Variables[ENV.webhookBaseUrl],
    );

    // Assess
    expect(outputs['WebhookBaseUrl']?.['Value']).toEqual(protectedBase);
    for (const base of creators) expect(base).toEqual(protectedBase);
    expect(JSON.stringify(relay.toJSON())).not.toMatch(/execute-api[^"]*\/webhook\//);
  });

  it('synthesizes both stacks with no unacknowledged cdk-nag finding, and acknowledges only findings that occur', () => {
    // Prepare
    const acknowledged = (root: App) =>
      root.node.findAll().flatMap((construct) =>
        construct.node.metadata
          .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
          .flatMap((entry) => Object.keys(entry.data as Record<string, string>).map((id) => ({ path: construct.node.path, id: id.replace(/^annotation::/i, '') }))),
      );
    const acknowledgements = acknowledged(compose('prod', { firewall: true, region: 'eu-west-1' }).app).filter(({ path }) => path.includes('WebhookEdge'));
    const spy = jest.spyOn(Validations.prototype, 'acknowledge').mockImplementation(() => undefined);
    const findings = new AwsSolutionsChecks()
      .validateScope(compose('prod', { firewall: true, region: 'eu-west-1' }).app)
      .violations.flatMap((violation) => violation.violatingResources.map((resource) => ({ id: violation.ruleName, path: resource.constructPath ?? '' })));
    spy.mockRestore();

    // Act
    const assembly = app.synth();

    // Assess
    const report = JSON.parse(readFileSync(join(assembly.directory, VALIDATION_REPORT_FILE), 'utf8')) as { pluginReports: { violations: unknown[] }[] };
    expect(report.pluginReports.filter((plugin) => plugin.violations.length > 0)).toEqual([]);
    expect(acknowledgements.map(({ id }) => id).sort()).toEqual(['AwsSolutions-CFR1', 'AwsSolutions-CFR3', 'AwsSolutions-CFR4', 'AwsSolutions-SMG4']);
    for (const ack of acknowledgements) expect(findings.some((finding) => finding.id === ack.id && finding.path.startsWith(ack.path))).toBe(true);
  });

  it('refuses a firewall without a target region, in one line naming the stage and the field', () => {
    // Act
    const synth = () => compose('prod', { firewall: true });

    // Assess
    expect(synth).toThrow(StageConfigError);
    expect(synth).toThrow('Stage "prod": webhookFirewall needs the target region at synth (its web ACL lives in us-east-1): set AWS_REGION or a profile with a region.');
  });
});

describe.each(STAGE_NAMES)('GraphRelay-%s without a firewall (as configured)', (stage) => {
  it('is one environment-agnostic stack: no CloudFront, WAF or origin secret, and the intake checks no origin', () => {
    // Prepare
    expect(parseStageConfig(stage).webhookFirewall).toBeUndefined();

    // Act
    const { app, stack } = compose(stage, { firewall: false, region: 'eu-west-1' });
    const template = Template.fromStack(stack);

    // Assess
    expect(app.node.children.filter((child) => child.node.id.startsWith('GraphRelay-'))).toEqual([stack]);
    expect(resourcesOf(template, 'AWS::CloudFront::Distribution')).toEqual([]);
    expect(resourcesOf(template, 'AWS::WAFv2::WebACL')).toEqual([]);
    expect(resourcesOf(template, 'AWS::SecretsManager::Secret')).toEqual([]);
    const text = JSON.stringify(template.toJSON());
    expect(text).not.toContain(ORIGIN_VERIFY_ENV);
    // The event schemas' descriptions give region names as examples; no resource may be tied to the target region.
    const withoutSchemaText = JSON.stringify(template.toJSON(), (key, value: unknown) => (key === 'Content' ? undefined : value));
    expect(withoutSchemaText).not.toContain('eu-west-1');
    expect(template.findOutputs('WebhookBaseUrl')['WebhookBaseUrl']?.['Value']).toEqual({
      'Fn::Join': ['', ['https://', { Ref: expect.stringMatching(/^WebhookApi/) }, '.execute-api.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }, '/webhook/']],
    });
  });
});
