import { LedgerState, type DeploymentUse, type LedgerKeyTotals, type LedgerTotals, type UsageLedger } from './ports.js';

/** The fields of a ledger entry that its sums need. */
export interface LedgerRow {
  readonly day: string;
  readonly model: string;
  readonly currency: string;
  readonly state?: string | undefined;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly costInNanos: number;
  readonly tags?: Readonly<Record<string, string>> | undefined;
}

/** LedgerTotals being added up. */
type Sums = { -readonly [K in keyof LedgerTotals]: LedgerTotals[K] };

const noCalls = (): Sums => ({ calls: 0, unconfirmedCalls: 0, promptTokens: 0, completionTokens: 0, costInNanos: 0 });

/** Sums entries per (UTC day, model) as they come; the currency is a key's first entry's (one price applies to a key). */
export class LedgerSums {
  readonly #byKey = new Map<
    string,
    { key: { day: string; model: string }; currency: string; totals: Sums; tags: LedgerRow['tags'] }
  >();

  add(row: LedgerRow): void {
    const id = `${row.day}|${row.model}`;
    let group = this.#byKey.get(id);
    if (group === undefined) {
      group = { key: { day: row.day, model: row.model }, currency: row.currency, totals: noCalls(), tags: row.tags };
      this.#byKey.set(id, group);
    }
    const totals = group.totals;
    totals.calls += 1;
    if (row.state === LedgerState.sent) totals.unconfirmedCalls += 1;
    totals.promptTokens += row.promptTokens;
    totals.completionTokens += row.completionTokens;
    totals.costInNanos += row.costInNanos;
  }

  byKey(): LedgerKeyTotals[] {
    return [...this.#byKey.values()].map((group) => ({
      key: group.key,
      currency: group.currency,
      totals: { ...group.totals },
      ...(group.tags === undefined ? {} : { tags: group.tags }),
    }));
  }
}

export function sumLedgerTotals(byKey: readonly LedgerKeyTotals[]): LedgerTotals {
  const sum = noCalls();
  for (const { totals } of byKey) {
    sum.calls += totals.calls;
    sum.unconfirmedCalls += totals.unconfirmedCalls;
    sum.promptTokens += totals.promptTokens;
    sum.completionTokens += totals.completionTokens;
    sum.costInNanos += totals.costInNanos;
  }
  return sum;
}

/** The job's whole ledger summed: every call it made, repeats included. */
export async function ledgerTotals(ledger: UsageLedger, jobId: string): Promise<LedgerTotals> {
  return sumLedgerTotals(await ledger.totalsByKey(jobId));
}

/** Sums ledger rows per deployment. */
export function sumUse(
  rows: Iterable<{ readonly deployment: string; readonly reservedTokens: number }>,
): DeploymentUse[] {
  const sums = new Map<string, { calls: number; tokens: number }>();
  for (const row of rows) {
    const sum = sums.get(row.deployment) ?? { calls: 0, tokens: 0 };
    sum.calls += 1;
    sum.tokens += row.reservedTokens;
    sums.set(row.deployment, sum);
  }
  return [...sums].map(([deployment, sum]) => ({ deployment, ...sum }));
}
