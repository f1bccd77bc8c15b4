import type { Phase } from './phase';

export const runHostilePhase: Phase = async () => {
  throw new Error('the hostile phase is not built yet');
};
