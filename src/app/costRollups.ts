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
    // An entry adds a call, a settled one changes the unconfirmed count and tokens, a discarded one removes a call:
    // equal totals mean the stored rollup already has every entry seen here.
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
    (rollup.unconfirmedCalls ?? 0) === totals.unconfirmedCalls &&
    rollup.promptTokens === totals.promptTokens &&
    rollup.completionTokens === totals.completionTokens &&
    rollup.costInNanos === totals.costInNanos
  );
}

/**
 * Per process, per job: collects the (day, model) keys touched by work messages and lets a refresh
 * through at most once per interval. Each refresh sums the job's ledger partition, so refreshing
 * after every message would cost work growing with the job for each message; finalisation refreshes
 * every key anyway, so a throttled key is late, never lost.
 */
export class RollupRefreshThrottle {
  readonly #intervalInMs: number;
  readonly #jobs = new Map<string, { lastInMs: number; keys: Map<string, RollupKey> }>();

  constructor(intervalInMs: number) {
    this.#intervalInMs = intervalInMs;
  }

  /** Adds the keys; returns every key collected for the job if a refresh is due now, else none. */
  take(jobId: string, keys: readonly RollupKey[], nowInMs: number): RollupKey[] {
    let job = this.#jobs.get(jobId);
    if (job === undefined) this.#jobs.set(jobId, (job = { lastInMs: Number.NEGATIVE_INFINITY, keys: new Map() }));
    for (const key of keys) job.keys.set(`${key.day}|${key.model}`, key);
    if (job.keys.size === 0 || nowInMs - job.lastInMs < this.#intervalInMs) return [];
    const due = [...job.keys.values()];
    job.keys.clear();
    job.lastInMs = nowInMs;
    // Jobs this process no longer works on are forgotten once their keys are taken.
    if (this.#jobs.size > 1_000) for (const [id, other] of this.#jobs) if (other.keys.size === 0 && id !== jobId) this.#jobs.delete(id);
    return due;
  }
}

/**
 * The refresh after a work message: its lines' outcomes are already recorded, so a failure here must
 * not fail the message (a redelivery would find nothing left to do). The next refresh of the same
 * key, or finalisation's refresh of every key, recomputes from the ledger and catches up.
 */
export async function refreshRollupsAfterMessage(
  jobId: string,
  touched: readonly RollupKey[],
  deps: RollupDeps & { readonly logger: Logger; readonly rollupRefresh: RollupRefreshThrottle },
): Promise<void> {
  const keys = deps.rollupRefresh.take(jobId, touched, deps.clock.nowInMs());
  if (keys.length === 0) return;
  try {
    await refreshRollups(jobId, keys, deps);
  } catch (thrown) {
    deps.logger.warn(`Job ${jobId}: cost rollups not refreshed now (finalisation recomputes them): ${ensureError(thrown).message}`);
  }
}
