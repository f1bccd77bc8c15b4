/**
 * The EventBridge schema registry's form of an event: an OpenAPI 3.0 document whose `AWSEvent` schema is the event
 * envelope (marked with its `source` and `detail-type`) and whose `detail` refers to the detail's own schema, the form
 * of the schemas EventBridge discovers and of its own AWS event schemas, from which the console, `aws schemas
 * put-code-binding` and the AWS toolkits generate code bindings. The detail comes from the contract's JSON Schema
 * (draft 2020-12, shared/events/detail-schemas.ts); the keywords OpenAPI 3.0 spells differently are rewritten.
 * Pure: no CDK, so it is tested on its own.
 */

export class UnconvertibleSchemaError extends Error {
  override readonly name = 'UnconvertibleSchemaError';
}

export interface EventSchemaInput {
  readonly source: string;
  readonly detailType: string;
  /** The detail's JSON Schema, draft 2020-12. */
  readonly detail: Record<string, unknown>;
}

type Schema = Record<string, unknown>;

/** `Graph Change Notification` → `GraphChangeNotification`: the detail's component and the schema's name. */
const pascalCaseOf = (detailType: string) => detailType.split(/[^A-Za-z0-9]+/).map((word) => word.charAt(0).toUpperCase() + word.slice(1)).join('');

/** The registry's schema name, `<source>@<DetailType>`, as EventBridge names the schemas it discovers. */
export function schemaNameOf(source: string, detailType: string): string {
  return `${source}@${pascalCaseOf(detailType)}`;
}

export function openApiEventSchema({ source, detailType, detail }: EventSchemaInput): Schema {
  const name = pascalCaseOf(detailType);
  // The document names the detail; the contract's file identity ($id, $schema) and caption (title) do not carry over.
  const { $id: _id, $schema: _dialect, title: _title, ...body } = detail;
  return {
    openapi: '3.0.0',
    info: { version: '1.0.0', title: name },
    paths: {},
    components: {
      schemas: {
        AWSEvent: {
          type: 'object',
          required: ['detail-type', 'resources', 'detail', 'id', 'source', 'time', 'region', 'version', 'account'],
          'x-amazon-events-detail-type': detailType,
          'x-amazon-events-source': source,
          properties: {
            detail: { $ref: `#/components/schemas/${name}` },
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
        [name]: toOpenApi(body, 'detail'),
      },
    },
  };
}

/** Keywords with the same meaning in both. */
const SAME = new Set(['type', 'description', 'title', 'enum', 'format', 'pattern', 'minLength', 'maxLength', 'minItems', 'maxItems', 'minimum', 'maximum', 'required', 'default']);

/** `{ not: {} }`: a property the contract promises is never present (clientState); it has no place in a binding. */
const isNeverPresent = (schema: unknown) =>
  typeof schema === 'object' && schema !== null && 'not' in schema && JSON.stringify((schema as Schema)['not']) === '{}';

function toOpenApi(schema: Schema, path: string): Schema {
  const refuse = (what: string): never => {
    throw new UnconvertibleSchemaError(`${path}: ${what} has no OpenAPI 3.0 form here`);
  };
  const out: Schema = {};
  const absent = new Set<string>();
  for (const [keyword, value] of Object.entries(schema)) {
    switch (keyword) {
      case 'type':
        if (value === 'null') Object.assign(out, { nullable: true, enum: [null] });
        else if (typeof value === 'string') out['type'] = value;
        else refuse(`type ${JSON.stringify(value)}`);
        break;
      case 'const':
        out['enum'] = [value];
        break;
      case 'properties': {
        const properties: Schema = {};
        for (const [property, propertySchema] of Object.entries(value as Schema)) {
          if (isNeverPresent(propertySchema)) absent.add(property);
          else properties[property] = toOpenApi(propertySchema as Schema, `${path}.properties.${property}`);
        }
        out['properties'] = properties;
        break;
      }
      case 'additionalProperties':
        out[keyword] = typeof value === 'boolean' ? value : Object.keys(value as Schema).length === 0 ? true : toOpenApi(value as Schema, `${path}.additionalProperties`);
        break;
      case 'prefixItems': {
        // OpenAPI 3.0 has no tuples: the positions' schemas become the items' (the contract's tuples are single-item).
        if (schema['items'] !== false) refuse('prefixItems followed by more items');
        const positions = (value as Schema[]).map((item, index) => toOpenApi(item, `${path}.prefixItems[${index}]`));
        out['items'] = positions.length === 1 ? positions[0] : { anyOf: positions };
        break;
      }
      case 'items':
        if (value === false) {
          if (!('prefixItems' in schema)) out['maxItems'] = 0;
        } else out['items'] = toOpenApi(value as Schema, `${path}.items`);
        break;
      case 'anyOf':
      case 'oneOf':
      case 'allOf':
        out[keyword] = (value as Schema[]).map((item, index) => toOpenApi(item, `${path}.${keyword}[${index}]`));
        break;
      case 'not':
        out['not'] = toOpenApi(value as Schema, `${path}.not`);
        break;
      case 'exclusiveMinimum':
      case 'exclusiveMaximum': {
        // 2020-12 gives the bound itself; OpenAPI 3.0 (draft 4) gives minimum/maximum and a flag.
        const bound = keyword === 'exclusiveMinimum' ? 'minimum' : 'maximum';
        if (bound in schema) refuse(`${keyword} beside ${bound}`);
        Object.assign(out, { [bound]: value, [keyword]: true });
        break;
      }
      case 'propertyNames':
        // Object keys are strings in JSON anyway; the contract only ever says so.
        break;
      default:
        if (!SAME.has(keyword)) refuse(keyword);
        out[keyword] = value;
    }
  }
  if (absent.size > 0 && Array.isArray(out['required'])) out['required'] = (out['required'] as string[]).filter((property) => !absent.has(property));
  return out;
}
