import type { Phase } from './phase';

export const runLoadPhase: Phase = async () => {
  throw new Error('the load phase is not built yet');
};
