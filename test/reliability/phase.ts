import type { ReliabilityStack } from './harness';
import type { ReliabilityProfile } from './profile';
import type { Figure } from './report';
import type { SecretRegistry } from './secrets';

/** What each phase of the reliability suite gets; a phase returns its figures, each with its threshold. */
export interface PhaseContext {
  stack: ReliabilityStack;
  profile: ReliabilityProfile;
  /** Register every secret, clientState and key the phase configures (the stack's putSecret does so itself). */
  secrets: SecretRegistry;
  /** A scratch folder of this run. */
  workDir: string;
  /** Progress lines (kept in the run's output). */
  log(line: string): void;
}

export type Phase = (context: PhaseContext) => Promise<Figure[]>;
