import { join } from 'node:path';
import { build } from 'esbuild';
import * as kit from '../../shared/consumer';

/**
 * A consumer Lambda bundles the kit the way NodejsFunction does (esbuild, the SDK left to the runtime): it must
 * carry no CDK and nothing of the product's other folders.
 */

const root = join(__dirname, '..', '..');

describe('consumer kit: what a consumer Lambda carries', () => {
  it('bundles the example handler with no CDK and no code outside shared/ and examples/', async () => {
    // Act
    const result = await build({
      entryPoints: [join(root, 'examples', 'consumer', 'handler.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      write: false,
      metafile: true,
      external: ['@aws-sdk/*'],
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);

    // Assess
    expect(inputs.filter((input) => /aws-cdk-lib|node_modules\/constructs\//.test(input))).toEqual([]);
    expect(inputs.filter((input) => !input.startsWith('node_modules/') && !/^(shared|examples)\//.test(input))).toEqual([]);
    expect(inputs).toContain('shared/consumer/index.ts');
  });

  it('is the same kit for CDK apps, through infra/consumer', async () => {
    // Act
    const cdk = await import('../../infra/consumer');

    // Assess
    expect(cdk.parseGraphRelayEvent).toBe(kit.parseGraphRelayEvent);
    expect(cdk.resolvePayloadRef).toBe(kit.resolvePayloadRef);
    expect(cdk.EVENT_DETAIL_TYPES).toBe(kit.EVENT_DETAIL_TYPES);
  });
});
