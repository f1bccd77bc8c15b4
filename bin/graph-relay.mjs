#!/usr/bin/env node
// Runs the TypeScript CLI from the repository without a build step.
import { register } from 'tsx/esm/api';

// Set before the AWS SDK loads: it warns about the Node version on stderr, which would break one-line errors.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
const { main } = await import('../cli/main.ts');
await main();
