import type { AttributeValue } from 'aws-lambda';

/**
 * A DynamoDB Streams image as plain values, the way the document client reads items: String Sets become Sets,
 * numbers become numbers. Only the types the connections table holds; anything else is left out.
 */
export function plainImage(image: Record<string, AttributeValue> | undefined): Record<string, unknown> | undefined {
  if (image === undefined) return undefined;
  const plain: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(image)) {
    const converted = plainValue(value);
    if (converted !== undefined) plain[name] = converted;
  }
  return plain;
}

function plainValue(value: AttributeValue): unknown {
  if (value.S !== undefined) return value.S;
  if (value.N !== undefined) return Number(value.N);
  if (value.BOOL !== undefined) return value.BOOL;
  if (value.NULL !== undefined) return null;
  if (value.SS !== undefined) return new Set(value.SS);
  if (value.NS !== undefined) return new Set(value.NS.map(Number));
  if (value.L !== undefined) return value.L.map(plainValue);
  if (value.M !== undefined) return plainImage(value.M);
  return undefined;
}
