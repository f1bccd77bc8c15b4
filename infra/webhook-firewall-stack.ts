import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { WebhookFirewall } from './constructs/webhook-firewall';
import type { WebhookFirewallSettings } from './stage-config';

export interface WebhookFirewallStackProps extends StackProps {
  readonly firewall: WebhookFirewallSettings;
}

/** Region of every web ACL a CloudFront distribution uses. */
export const CLOUDFRONT_WAF_REGION = 'us-east-1';

/**
 * The webhook's web ACL, in us-east-1 whatever the relay's region: CloudFront takes only web ACLs of that region.
 * The relay's stack reads its ARN with `Fn::GetStackOutput` (cdk.json makes cross-stack references weak), so this
 * stack deploys first; being a weak reference, nothing stops deleting it while the distribution still uses the ACL.
 */
export class WebhookFirewallStack extends Stack {
  readonly webAclArn: string;

  constructor(scope: Construct, id: string, props: WebhookFirewallStackProps) {
    super(scope, id, { ...props, env: { ...props.env, region: CLOUDFRONT_WAF_REGION } });
    this.webAclArn = new WebhookFirewall(this, 'Firewall', props.firewall).webAcl.attrArn;
  }
}
