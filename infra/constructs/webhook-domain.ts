import { Duration, Stack } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as route53 from 'aws-cdk-lib/aws-route53';
import { Construct } from 'constructs';
import { HEALTH_PATH, WEBHOOK_PATH, type WebhookApi } from './webhook-api';

export interface WebhookDomainProps {
  readonly api: WebhookApi;
  /** The stage's webhookDomain: the host of every notificationUrl, in both regions. */
  readonly domainName: string;
  readonly hostedZoneId: string;
  readonly hostedZoneName: string;
  /** PRIMARY in the primary region, SECONDARY in the other. */
  readonly failover: route53.Failover;
}

/**
 * Route 53's failover checks: every 30 seconds from each checker region, unhealthy after 3 failures in a row, so a
 * region that stops answering is out of DNS within about 90 seconds plus the record's TTL (60 s for an alias to API
 * Gateway). The fast 10-second interval would cost more and gain little against Graph's own retries.
 */
export const HEALTH_CHECK = { requestInterval: Duration.seconds(30), failureThreshold: 3 } as const;

/**
 * The webhook under the stage's own domain, in one region of a multi-region stage: an ACM certificate for it
 * (DNS-validated in the hosted zone), an API Gateway custom domain mapped to the webhook API's stage, a Route 53 health
 * check on this region's `GET /health` (by its execute-api host, so it tests this region whatever DNS answers), and
 * this region's failover alias record carrying that check.
 */
export class WebhookDomain extends Construct {
  readonly certificate: acm.Certificate;
  readonly domainName: apigwv2.DomainName;
  readonly healthCheck: route53.HealthCheck;
  readonly record: route53.ARecord;
  private readonly name: string;

  constructor(scope: Construct, id: string, props: WebhookDomainProps) {
    super(scope, id);
    this.name = props.domainName;
    const { region, urlSuffix } = Stack.of(this);
    const zone = route53.HostedZone.fromHostedZoneAttributes(this, 'Zone', { hostedZoneId: props.hostedZoneId, zoneName: props.hostedZoneName });

    // ACM's DNS validation record of a domain is the same in every region (it depends on the account and the name
    // only), and Route 53 refuses to create a record that exists: the primary's certificate writes it, and the
    // secondary's is validated by that same record, without writing it again.
    this.certificate = new acm.Certificate(this, 'Certificate', {
      domainName: props.domainName,
      validation: props.failover === route53.Failover.PRIMARY ? acm.CertificateValidation.fromDns(zone) : acm.CertificateValidation.fromDns(),
    });
    this.domainName = new apigwv2.DomainName(this, 'DomainName', {
      domainName: props.domainName,
      certificate: this.certificate,
      endpointType: apigwv2.EndpointType.REGIONAL,
      securityPolicy: apigwv2.SecurityPolicy.TLS_1_2,
    });
    new apigwv2.ApiMapping(this, 'Mapping', { api: props.api.api, domainName: this.domainName, stage: props.api.stage });

    this.healthCheck = new route53.HealthCheck(this, 'HealthCheck', {
      type: route53.HealthCheckType.HTTPS,
      fqdn: `${props.api.api.apiId}.execute-api.${region}.${urlSuffix}`,
      port: 443,
      resourcePath: HEALTH_PATH,
      requestInterval: HEALTH_CHECK.requestInterval,
      failureThreshold: HEALTH_CHECK.failureThreshold,
    });

    this.record = new route53.ARecord(this, 'FailoverRecord', {
      zone,
      recordName: props.domainName,
      // Route 53 requires a failover alias to evaluate its target's health too; the health check decides.
      target: route53.RecordTarget.fromAlias({
        bind: () => ({ dnsName: this.domainName.regionalDomainName, hostedZoneId: this.domainName.regionalHostedZoneId, evaluateTargetHealth: true }),
      }),
      failover: props.failover,
      setIdentifier: region,
      healthCheck: this.healthCheck,
    });
  }

  /** Base of every notificationUrl of the stage: append the integration id. */
  get webhookBaseUrl(): string {
    return `https://${this.name}/${WEBHOOK_PATH}/`;
  }
}
