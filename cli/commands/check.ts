/** One of doctor's checks and its verdict: what doctor prints as a ✓, ⚠ or ✗ line. */
export interface Check {
  /** What was checked, e.g. `webhook handshake contoso`. */
  check: string;
  /** False fails doctor (exit code 1). */
  ok: boolean;
  /**
   * With `ok`: worth a look, but nothing in the stack is broken (e.g. requests strangers sent): shown ⚠, never
   * fails doctor.
   */
  warning?: boolean;
  /** What was found, in plain words; never a secret value. */
  detail: string;
  /** The command or step that fixes a failed check. */
  fix?: string;
  latencyMs?: number;
}
