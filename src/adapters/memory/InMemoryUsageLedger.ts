import { LedgerState, type LedgerEntry, type LedgerTotals, type UsageLedger } from '../../app/ports.js';
import type { RollupKey } from '../../core/costReport.js';

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

  async totals(jobId: string, filter?: RollupKey): Promise<LedgerTotals> {
    const totals = { calls: 0, unconfirmedCalls: 0, promptTokens: 0, completionTokens: 0, costInNanos: 0 };
    for (const e of this.#of(jobId, filter)) {
      totals.calls += 1;
      if (e.state === LedgerState.sent) totals.unconfirmedCalls += 1;
      totals.promptTokens += e.promptTokens;
      totals.completionTokens += e.completionTokens;
      totals.costInNanos += e.costInNanos;
    }
    return totals;
  }

  async currencyOf(jobId: string, key: RollupKey): Promise<string | undefined> {
    return this.#of(jobId, key)[0]?.currency;
  }

  async listKeys(jobId: string): Promise<RollupKey[]> {
    const keys = new Map<string, RollupKey>();
    for (const e of this.#of(jobId)) keys.set(`${e.day}|${e.model}`, { day: e.day, model: e.model });
    return [...keys.values()];
  }

  async *listEntries(jobId: string): AsyncIterable<LedgerEntry> {
    for (const e of this.#of(jobId).sort((a, b) => a.atInMs - b.atInMs || (a.id < b.id ? -1 : 1))) yield structuredClone(e);
  }

  #of(jobId: string, filter?: RollupKey): LedgerEntry[] {
    return [...this.entries.values()].filter((e) => e.jobId === jobId && (filter === undefined || (e.day === filter.day && e.model === filter.model)));
  }
}
