import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The README shows the example consumer Lambda as it is compiled (tsc --noEmit) and run in
 * test/integration/consumer-example.test.ts: the ```ts block of its section must be the file, byte for byte.
 */

const root = join(__dirname, '..', '..');
const SECTION = '### Consumers: a typed Lambda';

async function readmeExample(): Promise<string> {
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf(SECTION);
  if (start === -1) throw new Error(`README.md: no "${SECTION}" section`);
  const end = readme.indexOf('\n#', start + SECTION.length);
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(start, end === -1 ? undefined : end));
  if (block === null) throw new Error(`README.md: no \`\`\`ts block in "${SECTION}"`);
  return block[1] ?? '';
}

describe('README: the example consumer', () => {
  it('shows examples/consumer/handler.ts byte for byte', async () => {
    // Prepare
    const file = await readFile(join(root, 'examples', 'consumer', 'handler.ts'), 'utf8');

    // Act
    const shown = await readmeExample();

    // Assess
    expect(shown).toBe(file);
  });

  it('keeps the example in what tsc --noEmit checks', async () => {
    // Act
    const tsconfig = JSON.parse(await readFile(join(root, 'tsconfig.json'), 'utf8')) as { include: string[] };

    // Assess
    expect(tsconfig.include).toContain('examples');
  });
});
