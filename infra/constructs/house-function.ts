import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { functionOutDir, type FunctionName } from '../../scripts/build';
import { ENV } from '../../shared/config/env-names';
import type { ConnectionsTable } from './connections-table';

/** What the stack gives every function construct: the table all the relay's functions work on, and the stage's logs. */
export interface RelayFunctionContext {
  /** Its name is in every function's environment. */
  readonly connections: ConnectionsTable;
  readonly logRetention: logs.RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
}

export interface GraphRelayFunctionProps extends RelayFunctionContext {
  /** Function in the build registry; its bundle in `dist/functions/<name>` is deployed as is. */
  readonly name: FunctionName;
  /** @default 512: waiting on Graph and DynamoDB dominates (the intake's comes from the stage) */
  readonly memorySize?: number;
  /** @default 8 seconds, inside the 10 s Graph allows for an answer */
  readonly timeout?: Duration;
  readonly environment?: Record<string, string>;
  /** @default none: the function shares the account's unreserved concurrency */
  readonly reservedConcurrentExecutions?: number;
  /** Asynchronous invocations only. @default Lambda's (2 retries, 6 hours) */
  readonly retryAttempts?: number;
  readonly maxEventAge?: Duration;
  /** Asynchronous invocations only: where an event goes once its retries are spent. @default none */
  readonly onFailure?: lambda.IDestination;
}

/**
 * House defaults for a Lambda function: Node.js 22 on arm64, the prebuilt ESM bundle, its own log group
 * and a role that may write only to that log group.
 *
 * X-Ray active tracing is off: HTTP APIs do not propagate traces, the handlers do not instrument the SDK,
 * and the platform REPORT lines already carry init and duration; it would only add an `xray:*` on `*` grant.
 */
export class GraphRelayFunction extends Construct {
  readonly function: lambda.Function;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: GraphRelayFunctionProps) {
    super(scope, id);

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention,
      removalPolicy: props.logRemovalPolicy,
    });

    // An own role instead of AWSLambdaBasicExecutionRole, which may create and write any log group.
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    this.logGroup.grantWrite(role);

    this.function = new lambda.Function(this, 'Function', {
      code: lambda.Code.fromAsset(functionOutDir(props.name)),
      handler: 'index.handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(8),
      role,
      logGroup: this.logGroup,
      // Platform lines (REPORT with Init Duration) become fields next to the Powertools JSON in Logs Insights.
      loggingFormat: lambda.LoggingFormat.JSON,
      tracing: lambda.Tracing.DISABLED,
      ...(props.reservedConcurrentExecutions === undefined ? {} : { reservedConcurrentExecutions: props.reservedConcurrentExecutions }),
      ...(props.retryAttempts === undefined ? {} : { retryAttempts: props.retryAttempts }),
      ...(props.maxEventAge === undefined ? {} : { maxEventAge: props.maxEventAge }),
      ...(props.onFailure === undefined ? {} : { onFailure: props.onFailure }),
      environment: {
        POWERTOOLS_SERVICE_NAME: `graph-relay-${props.name}`,
        [ENV.connectionsTable]: props.connections.table.tableName,
        ...props.environment,
      },
    });
    // Every house function runs the same runtime the bundles target, so the acknowledgement lives here, once.
    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'Pinned to nodejs22.x, the version the bundle targets (esbuild target node22); move both together.',
    });
  }
}
