import { rollupId, type CostRollup, type RollupKey } from '../core/costReport.js';
import { ensureError } from '../core/errors.js';
import type { Logger } from './Logger.js';
import type { Clock, LedgerTotals, RollupStore, UsageLedger } from './ports.js';

export interface RollupDeps {
  readonly ledger: UsageLedger;
  readonly rollups: RollupStore;
  readonly clock: Clock;
}

const MAX_ATTEMPTS = 20;

/**
 * Recomputes the job's rollups from the ledger: for each (day, model) key given, or for every key the
 * job's entries fall into. Each rollup is replaced only if it is unchanged since it was read before
 * the ledger was summed, so the last write always carries a sum taken after every earlier write
 * (docs/decisions/0005-cost-rollups.md). Returns how many rollups were written.
 */
export async function refreshRollups(jobId: string, keys: readonly RollupKey[] | undefined, deps: RollupDeps): Promise<number> {
  const wanted = new Map<string, RollupKey>();
  for (const key of keys ?? (await deps.ledger.listKeys(jobId))) wanted.set(`${key.day}|${key.model}`, key);
  let written = 0;
  for (const key of wanted.values()) if (await refreshRollup(jobId, key, deps)) written += 1;
  return written;
}

async function refreshRollup(jobId: string, key: RollupKey, deps: RollupDeps): Promise<boolean> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
    // Read first: the sum below is then at least as fresh as the version it replaces.
    const current = await deps.rollups.get(jobId, key);
    const [totals, currency] = await Promise.all([deps.ledger.totals(jobId, key), deps.ledger.currencyOf(jobId, key)]);
    if (totals.calls === 0) return false;
    // Every entry adds a call, so equal totals mean the stored rollup already has every entry seen here.
    if (current !== undefined && sameTotals(current.rollup, totals)) return false;
    const next: CostRollup = {
      id: rollupId(key.day, key.model, jobId),
      day: key.day,
      model: key.model,
      jobId,
      ...totals,
      currency: currency ?? current?.rollup.currency ?? 'USD',
      refreshedAtInMs: deps.clock.nowInMs(),
    };
    const done = current === undefined ? await deps.rollups.create(next) : await deps.rollups.replace(next, current.etag);
    if (done) return true;
  }
  throw new Error(`Rollup ${rollupId(key.day, key.model, jobId)}: could not write it (it kept changing)`);
}

function sameTotals(rollup: CostRollup, totals: LedgerTotals): boolean {
  return (
    rollup.calls === totals.calls &&
    rollup.promptTokens === totals.promptTokens &&
    rollup.completionTokens === totals.completionTokens &&
    rollup.costInNanos === totals.costInNanos
  );
}

/**
 * The refresh after a work message: its lines' outcomes are already recorded, so a failure here must
 * not fail the message (a redelivery would find nothing left to do). The next refresh of the same
 * key, or finalisation's refresh of every key, recomputes from the ledger and catches up.
 */
export async function refreshRollupsAfterMessage(jobId: string, keys: readonly RollupKey[], deps: RollupDeps & { readonly logger: Logger }): Promise<void> {
  if (keys.length === 0) return;
  try {
    await refreshRollups(jobId, keys, deps);
  } catch (thrown) {
    deps.logger.warn(`Job ${jobId}: cost rollups not refreshed now (finalisation recomputes them): ${ensureError(thrown).message}`);
  }
}
