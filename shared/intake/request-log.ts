/** Where the domain writes what a request did: a logger, or the request's own log (RequestLog). */
export interface IntakeLogger {
  info(message: string, fields: Record<string, unknown>): void;
  warn(message: string, fields: Record<string, unknown>): void;
  error(message: string, fields: Record<string, unknown>): void;
}

/** Notes kept per request: enough to diagnose, bounded whatever a request holds. */
export const MAX_REQUEST_NOTES = 5;

type Level = 'info' | 'warn' | 'error';
const RANK: Record<Level, number> = { info: 0, warn: 1, error: 2 };

export interface RequestNote {
  level: Level;
  message: string;
  fields: Record<string, unknown>;
}

/**
 * The log of one request, written as one line: the domain logs to it as it would to a logger, and it keeps the
 * first few notes and counts the rest, so no input can make a request write more than one line.
 */
export class RequestLog implements IntakeLogger {
  readonly notes: RequestNote[] = [];
  /** Notes beyond the first few, counted only. */
  dropped = 0;
  level: Level = 'info';

  info(message: string, fields: Record<string, unknown>): void {
    this.add('info', message, fields);
  }

  warn(message: string, fields: Record<string, unknown>): void {
    this.add('warn', message, fields);
  }

  error(message: string, fields: Record<string, unknown>): void {
    this.add('error', message, fields);
  }

  /** The notes as one log field: message and fields, without the integration id the line already carries. */
  summary(): { notes: Record<string, unknown>[]; moreNotes?: number } {
    const notes = this.notes.map(({ level, message, fields }) => {
      const { integrationId: _sameForAll, ...rest } = fields;
      return { level, message, ...rest };
    });
    return this.dropped > 0 ? { notes, moreNotes: this.dropped } : { notes };
  }

  private add(level: Level, message: string, fields: Record<string, unknown>): void {
    if (RANK[level] > RANK[this.level]) this.level = level;
    if (this.notes.length < MAX_REQUEST_NOTES) this.notes.push({ level, message, fields });
    else this.dropped += 1;
  }
}
