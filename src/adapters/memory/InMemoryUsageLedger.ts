import { LedgerSums, sumUse } from '../../app/ledgerTotals.js';
import type { DeploymentUse, LedgerEntry, LedgerKeyTotals, UsageLedger } from '../../app/ports.js';

export class InMemoryUsageLedger implements UsageLedger {
  readonly entries = new Map<string, LedgerEntry>();

  async record(entry: LedgerEntry): Promise<boolean> {
    if (this.entries.has(entry.id)) return false;
    this.entries.set(entry.id, structuredClone(entry));
    return true;
  }

  async settle(entry: LedgerEntry): Promise<void> {
    this.entries.set(entry.id, structuredClone(entry));
  }

  async discard(_jobId: string, id: string): Promise<void> {
    this.entries.delete(id);
  }

  async totalsByKey(jobId: string): Promise<LedgerKeyTotals[]> {
    const sums = new LedgerSums();
    for (const entry of this.#of(jobId)) sums.add(entry);
    return sums.byKey();
  }

  async *listEntries(jobId: string): AsyncIterable<LedgerEntry> {
    for (const e of this.#of(jobId).sort((a, b) => a.atInMs - b.atInMs || (a.id < b.id ? -1 : 1)))
      yield structuredClone(e);
  }

  async recentUse(sinceInMs: number): Promise<DeploymentUse[]> {
    return sumUse([...this.entries.values()].filter((e) => e.atInMs >= sinceInMs));
  }

  #of(jobId: string): LedgerEntry[] {
    return [...this.entries.values()].filter((e) => e.jobId === jobId);
  }
}
