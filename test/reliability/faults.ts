import type { Phase } from './phase';

export const runFaultsPhase: Phase = async () => {
  throw new Error('the faults phase is not built yet');
};
