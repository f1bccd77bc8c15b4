import { fileURLToPath } from 'node:url';

/** The repository's root folder, for tools that spawn `npm start`, build, or write results relative to it. */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
