import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface WebhookApiProps {
  /** Receives every request to `/webhook/{integrationId}`, whatever the method (it answers 405 itself). */
  readonly intake: lambda.IFunction;
  /** The webhook route's limit, and the stage default for any route without its own. */
  readonly throttle: apigwv2.ThrottleSettings;
  readonly logRetention: logs.RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
  /**
   * Adds `GET /health` to the intake, the deep health answer a Route 53 health check polls in a multi-region stage.
   * @default no health route
   */
  readonly healthRoute?: boolean;
}

/** Path of the deep health check (the intake answers it itself). */
export const HEALTH_PATH = '/health';

/** Path of the webhook route below the stage URL; the notificationUrl is `<url>webhook/<integrationId>`. */
export const WEBHOOK_PATH = 'webhook';

// `$context.path` excludes the query string, so the handshake's validationToken never reaches the logs. HTTP APIs
// have no path-parameter variable for access logs: the integration id is the path's last segment
// (Logs Insights: `parse path "/webhook/*" as integrationId`).
const ACCESS_LOG_FORMAT = AccessLogFormat.custom(
  JSON.stringify({
    requestId: '$context.requestId',
    requestTime: '$context.requestTime',
    sourceIp: '$context.identity.sourceIp',
    userAgent: '$context.identity.userAgent',
    method: '$context.httpMethod',
    routeKey: '$context.routeKey',
    path: '$context.path',
    status: '$context.status',
    responseLength: '$context.responseLength',
    responseLatency: '$context.responseLatency',
    integrationStatus: '$context.integration.status',
    integrationLatency: '$context.integration.latency',
    integrationError: '$context.integrationErrorMessage',
  }),
);

/** The public HTTP endpoint Microsoft Graph posts change notifications to. */
export class WebhookApi extends Construct {
  readonly api: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;
  readonly accessLogs: logs.LogGroup;

  constructor(scope: Construct, id: string, props: WebhookApiProps) {
    super(scope, id);

    // The implicit default stage takes no throttling or access logs, so the `$default` stage is declared here.
    this.api = new apigwv2.HttpApi(this, 'Api', {
      description: 'Microsoft Graph change-notification webhooks',
      createDefaultStage: false,
    });

    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: props.logRemovalPolicy,
    });

    this.stage = this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(this.accessLogs),
        format: ACCESS_LOG_FORMAT,
      },
    });

    const routeKey = apigwv2.HttpRouteKey.with(`/${WEBHOOK_PATH}/{integrationId}`, apigwv2.HttpMethod.ANY);
    const integration = new HttpLambdaIntegration('Intake', props.intake, {
      payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
    });
    const route = new apigwv2.HttpRoute(this, 'WebhookRoute', { httpApi: this.api, routeKey, integration });
    // Route-level throttling, which HttpStage has no property for: the webhook keeps its limit whatever default the
    // stage is given later (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html).
    (this.stage.node.defaultChild as apigwv2.CfnStage).routeSettings = {
      [routeKey.key]: { ThrottlingRateLimit: props.throttle.rateLimit, ThrottlingBurstLimit: props.throttle.burstLimit },
    };
    // CloudFormation refuses settings for a route key the API does not have yet.
    this.stage.node.addDependency(route);
    Validations.of(route).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'Microsoft Graph sends notifications without credentials an authorizer could check; the intake verifies the integration clientState of every notification instead.',
    });

    if (props.healthRoute === true) {
      // The stage's default throttle applies; the intake caches the answer, so the checkers' polling costs O(1).
      const health = new apigwv2.HttpRoute(this, 'HealthRoute', { httpApi: this.api, routeKey: apigwv2.HttpRouteKey.with(HEALTH_PATH, apigwv2.HttpMethod.GET), integration });
      Validations.of(health).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'Route 53 health checkers poll it and can send no credentials; the answer names only the region and which checks failed, and reveals no data.',
      });
    }
  }

  /** Base of every notificationUrl: append the integration id. */
  get webhookBaseUrl(): string {
    return `${this.stage.url}${WEBHOOK_PATH}/`;
  }
}
