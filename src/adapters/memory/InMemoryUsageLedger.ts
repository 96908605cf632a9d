import type { LedgerEntry, UsageLedger } from '../../app/ports.js';

export class InMemoryUsageLedger implements UsageLedger {
  readonly entries = new Map<string, LedgerEntry>();

  async record(entry: LedgerEntry): Promise<void> {
    if (!this.entries.has(entry.id)) this.entries.set(entry.id, structuredClone(entry));
  }
}
