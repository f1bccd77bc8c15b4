import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { detailSchemas, jsonSchemaOf, schemaFileName } from '../shared/events/detail-schemas';

/** Regenerates the JSON Schema of every event `detail` into shared/events/schemas/. */
const dir = join(process.cwd(), 'shared', 'events', 'schemas');
for (const detailType of Object.keys(detailSchemas) as (keyof typeof detailSchemas)[]) {
  const file = join(dir, schemaFileName(detailType));
  await writeFile(file, `${JSON.stringify(jsonSchemaOf(detailType), null, 2)}\n`);
  console.log(`wrote ${file}`);
}
