import { JavaMissingError, javaCommand, startDynamoDbLocal } from '../../local/dynamodb-local';

describe('startDynamoDbLocal', () => {
  it('fails with a clear, actionable message when Java cannot be found', async () => {
    // Act
    const result = startDynamoDbLocal({ java: '/nonexistent/bin/java' });
    // Assess
    await expect(result).rejects.toBeInstanceOf(JavaMissingError);
    await expect(result).rejects.toThrow(/needs Java 17 or later.*apt-get install -y openjdk-17-jre-headless/);
  });

  it('uses JAVA_HOME when it is set, else java from PATH', () => {
    expect(javaCommand({ JAVA_HOME: '/opt/jdk-17' })).toBe('/opt/jdk-17/bin/java');
    expect(javaCommand({})).toBe('java');
  });
});
