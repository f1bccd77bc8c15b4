import { Template } from 'aws-cdk-lib/assertions';
import { detailSchemas, jsonSchemaOf } from '../../shared/events/detail-schemas';
import { openApiEventSchema, schemaNameOf, UnconvertibleSchemaError } from '../../infra/openapi-event-schema';
import { parseStageConfig } from '../../infra/stage-config';
import { resourcesOf, soleResource, stackOnly, withInlineFunctionCode } from './helpers';

// The bundles are not under test here (graph-relay-stack.test.ts deploys them as built).
withInlineFunctionCode();

const DETAIL_TYPES = Object.keys(detailSchemas) as (keyof typeof detailSchemas)[];
type OpenApiDocument = { components: { schemas: Record<string, Record<string, unknown>> } } & Record<string, unknown>;

/** Every keyword used anywhere in a schema (property names are not keywords). */
function keywordsOf(schema: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(schema)) for (const item of schema) keywordsOf(item, into);
  else if (schema !== null && typeof schema === 'object') {
    for (const [key, value] of Object.entries(schema)) {
      into.add(key);
      if (key === 'properties') for (const property of Object.values(value as object)) keywordsOf(property, into);
      else keywordsOf(value, into);
    }
  }
  return into;
}

describe('openApiEventSchema', () => {
  it('wraps the detail in the EventBridge event envelope, named as EventBridge names its own schemas', () => {
    // Act
    const document = openApiEventSchema({ source: 'graph-relay', detailType: 'Graph Subscription Renewed', detail: { type: 'object', properties: { id: { type: 'string' } } } });

    // Assess
    expect(document).toEqual({
      openapi: '3.0.0',
      info: { version: '1.0.0', title: 'GraphSubscriptionRenewed' },
      paths: {},
      components: {
        schemas: {
          AWSEvent: {
            type: 'object',
            required: ['detail-type', 'resources', 'detail', 'id', 'source', 'time', 'region', 'version', 'account'],
            'x-amazon-events-detail-type': 'Graph Subscription Renewed',
            'x-amazon-events-source': 'graph-relay',
            properties: {
              detail: { $ref: '#/components/schemas/GraphSubscriptionRenewed' },
              account: { type: 'string' },
              'detail-type': { type: 'string' },
              id: { type: 'string' },
              region: { type: 'string' },
              resources: { type: 'array', items: { type: 'string' } },
              source: { type: 'string' },
              time: { type: 'string', format: 'date-time' },
              version: { type: 'string' },
            },
          },
          GraphSubscriptionRenewed: { type: 'object', properties: { id: { type: 'string' } } },
        },
      },
    });
    expect(schemaNameOf('graph-relay', 'Graph Subscription Renewed')).toBe('graph-relay@GraphSubscriptionRenewed');
  });

  it('turns the JSON Schema 2020-12 keywords of the contract into their OpenAPI 3.0 forms', () => {
    // Prepare
    const detail = {
      $id: 'https://graph-relay.dev/schemas/x.schema.json',
      title: 'detail of "X"',
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: {
        type: { type: 'string', const: 'forward' },
        connectionId: { type: 'null', description: 'no connection' },
        clientState: { description: 'never present', not: {} },
        value: { type: 'array', prefixItems: [{ type: 'object', propertyNames: { type: 'string' }, additionalProperties: {} }], items: false, minItems: 1, maxItems: 1 },
        size: { type: 'integer', exclusiveMinimum: 0, maximum: 10 },
      },
      required: ['type', 'connectionId', 'clientState'],
      additionalProperties: false,
    };

    // Act
    const converted = (openApiEventSchema({ source: 'graph-relay', detailType: 'X', detail }) as OpenApiDocument).components.schemas['X'];

    // Assess
    expect(converted).toEqual({
      type: 'object',
      properties: {
        type: { type: 'string', enum: ['forward'] },
        connectionId: { nullable: true, enum: [null], description: 'no connection' },
        value: { type: 'array', items: { type: 'object', additionalProperties: true }, minItems: 1, maxItems: 1 },
        size: { type: 'integer', minimum: 0, exclusiveMinimum: true, maximum: 10 },
      },
      required: ['type', 'connectionId'],
      additionalProperties: false,
    });
  });

  it.each([
    ['a reference', { type: 'object', properties: { a: { $ref: '#/$defs/a' } } }, 'detail.properties.a: $ref has no OpenAPI 3.0 form here'],
    ['a list of types', { type: ['string', 'null'] }, 'detail: type ["string","null"] has no OpenAPI 3.0 form here'],
    ['pattern properties', { type: 'object', patternProperties: { '^x': {} } }, 'detail: patternProperties has no OpenAPI 3.0 form here'],
  ])('refuses %s it has no conversion for, naming where', (_case, detail, message) => {
    // Act
    const convert = () => openApiEventSchema({ source: 'graph-relay', detailType: 'X', detail });

    // Assess
    expect(convert).toThrow(UnconvertibleSchemaError);
    expect(convert).toThrow(message);
  });

  it.each(DETAIL_TYPES)('converts the contract\'s "%s" with no keyword OpenAPI 3.0 lacks', (detailType) => {
    // Act
    const document = openApiEventSchema({ source: 'graph-relay', detailType, detail: jsonSchemaOf(detailType) }) as OpenApiDocument;

    // Assess
    const keywords = keywordsOf(document.components.schemas);
    for (const keyword of ['$schema', '$id', '$defs', 'const', 'prefixItems', 'propertyNames', 'patternProperties', 'if', 'dependentRequired']) expect(keywords).not.toContain(keyword);
    expect(JSON.stringify(document.components.schemas)).not.toContain('"type":"null"');
    expect(JSON.stringify(document.components.schemas)).not.toMatch(/"exclusiveM(in|ax)imum":\d/);
  });
});

describe('SchemaRegistry in the stack', () => {
  it.each(['dev', 'prod'] as const)('registers every detail type\'s schema in the %s stage\'s own registry', (stage) => {
    // Prepare
    const { stack } = stackOnly(stage);
    const template = Template.fromStack(stack);

    // Act
    const [registryId, registry] = soleResource(template, 'AWS::EventSchemas::Registry');
    const schemas = resourcesOf(template, 'AWS::EventSchemas::Schema').map(([, schema]) => schema.Properties as { RegistryName: unknown; SchemaName: string; Type: string; Content: string });

    // Assess
    expect(registry.Properties['RegistryName']).toBe(`graph-relay-${stage}`);
    expect(schemas.map((schema) => schema.SchemaName).sort()).toEqual(DETAIL_TYPES.map((detailType) => schemaNameOf('graph-relay', detailType)).sort());
    for (const schema of schemas) {
      const detailType = DETAIL_TYPES.find((type) => schemaNameOf('graph-relay', type) === schema.SchemaName)!;
      expect(schema.Type).toBe('OpenApi3');
      expect(schema.RegistryName).toEqual({ 'Fn::GetAtt': [registryId, 'RegistryName'] });
      expect(JSON.parse(schema.Content)).toEqual(openApiEventSchema({ source: 'graph-relay', detailType, detail: jsonSchemaOf(detailType) }));
    }
    template.hasOutput('SchemaRegistryName', { Value: { 'Fn::GetAtt': [registryId, 'RegistryName'] } });
  });

  it('lets the stage\'s consumer accounts and organizations read the schemas and get code bindings, nothing more', () => {
    // Prepare
    const { stack } = stackOnly({ ...parseStageConfig('prod'), consumerAccounts: ['444455556666', 'o-a1b2c3d4e5'] });
    const template = Template.fromStack(stack);
    const [registryId] = soleResource(template, 'AWS::EventSchemas::Registry');
    const arn = (resource: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':schemas:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:${resource}`]] });

    // Act
    const [, policy] = soleResource(template, 'AWS::EventSchemas::RegistryPolicy');
    const { Policy, RegistryName } = policy.Properties as { Policy: { Statement: { Principal: unknown; Action: string[]; Resource: unknown; Condition?: unknown }[] }; RegistryName: unknown };

    // Assess
    expect(RegistryName).toEqual({ 'Fn::GetAtt': [registryId, 'RegistryName'] });
    const readOnly = ['schemas:DescribeCodeBinding', 'schemas:DescribeRegistry', 'schemas:DescribeSchema', 'schemas:GetCodeBindingSource', 'schemas:ListSchemaVersions', 'schemas:ListSchemas', 'schemas:PutCodeBinding', 'schemas:SearchSchemas'];
    const resources = [arn('registry/graph-relay-prod'), arn('schema/graph-relay-prod/*')];
    expect(Policy.Statement.map((statement) => ({ ...statement, Action: [...statement.Action].sort() }))).toEqual([
      expect.objectContaining({ Effect: 'Allow', Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::444455556666:root']] } }, Action: readOnly, Resource: resources }),
      expect.objectContaining({ Effect: 'Allow', Principal: { AWS: '*' }, Action: readOnly, Resource: resources, Condition: { StringEquals: { 'aws:PrincipalOrgID': ['o-a1b2c3d4e5'] } } }),
    ]);
    expect(Policy.Statement[0]?.Condition).toBeUndefined();
  });

  it('has no registry policy when the stage lists no consumer accounts', () => {
    // Act
    const template = Template.fromStack(stackOnly('prod').stack);

    // Assess
    template.resourceCountIs('AWS::EventSchemas::RegistryPolicy', 0);
  });
});
