import { rollupId, type CostRollup, type RollupKey } from '../core/costReport.js';
import { ensureError } from '../core/errors.js';
import type { Logger } from './Logger.js';
import { JobStatus } from '../core/job.js';
import type { Clock, JobStore, LedgerTotals, RollupStore, UsageLedger } from './ports.js';

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
 * Brings the rollups of every running job up to its ledger (the sweeper's timer calls it): reports lag
 * a running job by at most the timer's period, and are exact once the job is finalised. Workers never
 * do it: each refresh sums a job's ledger, which would make a job's refresh work grow with its
 * messages × its entries. A job whose refresh fails is logged and tried again next time.
 */
export async function refreshRunningJobsRollups(deps: RollupDeps & { readonly jobs: JobStore; readonly logger: Logger }): Promise<number> {
  let refreshed = 0;
  for await (const job of deps.jobs.listActiveJobs()) {
    if (job.status !== JobStatus.inProgress && job.status !== JobStatus.cancelling) continue;
    try {
      refreshed += await refreshRollups(job.id, undefined, deps);
    } catch (thrown) {
      deps.logger.warn(`Job ${job.id}: cost rollups not refreshed now: ${ensureError(thrown).message}`);
    }
  }
  return refreshed;
}
