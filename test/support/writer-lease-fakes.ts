import type { WriterLeaseRecord, WriterLeaseStore } from '../../shared/leadership/writer-lease';
import type { Handoff, HandoffStore } from '../../shared/leadership/handoffs';

/** One item, written only if it is still as the writer read it (same holder and epoch; none: still none). */
export class MemoryLeaseStore implements WriterLeaseStore {
  item: WriterLeaseRecord | undefined;
  writes = 0;
  /** Runs between a heartbeat's read and its write: another region's heartbeat, say. */
  beforeWrite: (() => Promise<void>) | undefined;

  async read(): Promise<WriterLeaseRecord | undefined> {
    return this.item === undefined ? undefined : { ...this.item };
  }

  async write(next: WriterLeaseRecord, expected: WriterLeaseRecord | undefined): Promise<boolean> {
    const interleave = this.beforeWrite;
    this.beforeWrite = undefined;
    await interleave?.();
    const same = expected === undefined ? this.item === undefined : this.item?.holder === expected.holder && this.item.epoch === expected.epoch;
    if (!same) return false;
    this.item = { ...next };
    this.writes += 1;
    return true;
  }
}

/** Hand-offs in memory, keyed as the table keys them (`<kind>#<id>`). */
export class MemoryHandoffStore implements HandoffStore {
  readonly items = new Map<string, Handoff>();
  failPut = false;

  async put(handoff: Omit<Handoff, 'createdAt'>): Promise<void> {
    if (this.failPut) throw new Error('DynamoDB is down');
    this.items.set(`${handoff.kind}#${handoff.id}`, { ...handoff, createdAt: '2026-12-01T10:00:00.000Z' });
  }

  async list(limit: number): Promise<{ handoffs: Handoff[]; invalid: string[] }> {
    return { handoffs: [...this.items.values()].slice(0, limit), invalid: [] };
  }

  async delete(handoff: Pick<Handoff, 'kind' | 'id' | 'createdAt'>): Promise<void> {
    const key = `${handoff.kind}#${handoff.id}`;
    if (this.items.get(key)?.createdAt === handoff.createdAt) this.items.delete(key);
  }
}
