import { startDynamoDbLocal } from '../../local/dynamodb-local';

/**
 * One in-memory DynamoDB Local (Amazon's engine) for the whole run; integration tests create their own
 * uniquely named tables in it. Its endpoint reaches the test workers through the environment.
 */
export default async function globalSetup(): Promise<void> {
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';
  const dynamodb = await startDynamoDbLocal();
  process.env['TEST_DYNAMODB_ENDPOINT'] = dynamodb.endpoint;
  (globalThis as { __dynamodbLocal?: typeof dynamodb }).__dynamodbLocal = dynamodb;
}
