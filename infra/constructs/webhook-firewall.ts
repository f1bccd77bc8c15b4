import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';

export interface WebhookFirewallProps {
  /** Requests one IP address may send in any 5 minutes before it is answered 429. */
  readonly requestsPerIpPer5Minutes: number;
}

/** Rule names, also the CloudWatch metric names WAF writes under AWS/WAFV2 (`Rule` dimension). */
export const FIREWALL_RULES = { ratePerIp: 'RatePerIp', ipReputation: 'AmazonIpReputation' } as const;

/**
 * The web ACL in front of the webhook's CloudFront distribution (scope CLOUDFRONT, so it must be created in
 * us-east-1: https://docs.aws.amazon.com/waf/latest/developerguide/web-acl-associating-aws-resource.html).
 *
 * Two rules, then allow:
 * - a rate-based rule per source IP, answering 429, which Graph treats as a failed delivery and retries;
 * - AWSManagedRulesAmazonIpReputationList: addresses Amazon's threat intelligence saw attacking, probing or taking
 *   part in DDoS. Graph delivers from Microsoft's own datacenters, which are not such sources.
 *
 * AWSManagedRulesAnonymousIpList is left out on purpose: its HostingProviderIPList rule blocks addresses of cloud and
 * hosting providers, which is exactly where Graph's deliveries come from (Microsoft's cloud).
 */
export class WebhookFirewall extends Construct {
  readonly webAcl: wafv2.CfnWebACL;

  constructor(scope: Construct, id: string, props: WebhookFirewallProps) {
    super(scope, id);

    const visibility = (metricName: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
      cloudWatchMetricsEnabled: true,
      sampledRequestsEnabled: true,
      metricName,
    });

    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      description: 'graph-relay webhook: per-IP rate limit and Amazon IP reputation list',
      scope: 'CLOUDFRONT',
      defaultAction: { allow: {} },
      visibilityConfig: visibility('GraphRelayWebhook'),
      rules: [
        {
          name: FIREWALL_RULES.ratePerIp,
          priority: 0,
          statement: {
            rateBasedStatement: { limit: props.requestsPerIpPer5Minutes, evaluationWindowSec: 300, aggregateKeyType: 'IP' },
          },
          action: { block: { customResponse: { responseCode: 429 } } },
          visibilityConfig: visibility(FIREWALL_RULES.ratePerIp),
        },
        {
          name: FIREWALL_RULES.ipReputation,
          priority: 1,
          statement: { managedRuleGroupStatement: { vendorName: 'AWS', name: 'AWSManagedRulesAmazonIpReputationList' } },
          overrideAction: { none: {} },
          visibilityConfig: visibility(FIREWALL_RULES.ipReputation),
        },
      ],
    });
  }
}
