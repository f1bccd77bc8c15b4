import { SignJWT } from '/tmp/scratch/node_modules/jose';
it('loads jose 6 under this jest config', () => { expect(typeof SignJWT).toBe('function'); });
