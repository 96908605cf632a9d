import { rollupId, type CostRollup, type RollupKey } from '../core/costReport.js';
import { ensureError } from '../core/errors.js';
import type { Logger } from './Logger.js';
import { JobStatus } from '../core/job.js';
import type { Clock, JobStore, LedgerTotals, RollupStore, UsageLedger } from './ports.js';
import { sumLedgerTotals } from './ledgerTotals.js';

export interface RollupDeps {
  readonly ledger: UsageLedger;
  readonly rollups: RollupStore;
  readonly clock: Clock;
}

const MAX_ATTEMPTS = 20;

export interface RollupRefresh {
  /** Rollups created or replaced. */
  readonly written: number;
  /** The job's whole ledger, as summed for the rollups written. */
  readonly totals: LedgerTotals;
}

/**
 * Recomputes the job's rollups, one per (day, model) its ledger entries fall into, from one listing
 * of the ledger. The job's rollups are read before the ledger is summed, and each is replaced only if
 * it is unchanged since (created only if still absent), so the last write always carries a sum taken
 * after every earlier write (docs/decisions/0005-cost-rollups.md); when another refresh got in
 * between, the whole refresh is taken again.
 */
export async function refreshRollups(jobId: string, deps: RollupDeps): Promise<RollupRefresh> {
  let written = 0;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
    // Read first: the sums below are then at least as fresh as the versions they replace.
    const current = new Map((await deps.rollups.listJob(jobId)).map((stored) => [rollupKeyId(stored.rollup), stored]));
    const byKey = await deps.ledger.totalsByKey(jobId);
    // A key the ledger no longer has (its every entry was discarded: written ahead, then refused) sums
    // to nothing; its rollup is brought to zero under the same condition, not left at what it once saw.
    const listed = new Set(byKey.map(({ key }) => rollupKeyId(key)));
    const emptied = [...current]
      .filter(([id]) => !listed.has(id))
      .map(([, { rollup }]) => ({
        key: { day: rollup.day, model: rollup.model },
        currency: rollup.currency,
        totals: NO_TOTALS,
        tags: rollup.tags,
      }));
    let overtaken = false;
    for (const { key, currency, totals, tags } of [...byKey, ...emptied]) {
      const stored = current.get(rollupKeyId(key));
      // An entry adds a call, a settled one changes the unconfirmed count and tokens, a discarded one removes a call:
      // equal totals mean the stored rollup already has every entry seen here.
      if (stored !== undefined && sameTotals(stored.rollup, totals)) continue;
      const next: CostRollup = {
        id: rollupId(key.day, key.model, jobId),
        day: key.day,
        model: key.model,
        jobId,
        ...totals,
        currency,
        refreshedAtInMs: deps.clock.nowInMs(),
        ...(tags === undefined ? {} : { tags }),
      };
      const done =
        stored === undefined ? await deps.rollups.create(next) : await deps.rollups.replace(next, stored.etag);
      if (done) written += 1;
      else overtaken = true;
    }
    if (!overtaken) return { written, totals: sumLedgerTotals(byKey) };
  }
  throw new Error(`Job ${jobId}: could not write its cost rollups (they kept changing)`);
}

const rollupKeyId = (key: RollupKey): string => `${key.day}|${key.model}`;

const NO_TOTALS: LedgerTotals = { calls: 0, unconfirmedCalls: 0, promptTokens: 0, completionTokens: 0, costInNanos: 0 };

function sameTotals(rollup: CostRollup, totals: LedgerTotals): boolean {
  return (
    rollup.calls === totals.calls &&
    (rollup.unconfirmedCalls ?? 0) === totals.unconfirmedCalls &&
    rollup.promptTokens === totals.promptTokens &&
    rollup.completionTokens === totals.completionTokens &&
    rollup.costInNanos === totals.costInNanos
  );
}

/** What refreshing the running jobs' rollups needs: the rollups' own dependencies, the job store and a logger. */
export interface RunningRollupsDeps extends RollupDeps {
  readonly jobs: JobStore;
  readonly logger: Logger;
}

/**
 * Brings the rollups of every running job up to its ledger (the sweeper's timer calls it): reports lag
 * a running job by at most the timer's period, and are exact once the job is finalised. Workers never
 * do it: each refresh sums a job's ledger, which would make a job's refresh work grow with its
 * messages × its entries. A job whose refresh fails is logged and tried again next time.
 */
export async function refreshRunningJobsRollups(deps: RunningRollupsDeps): Promise<number> {
  let refreshed = 0;
  for await (const job of deps.jobs.listActiveJobs()) {
    if (job.status !== JobStatus.inProgress && job.status !== JobStatus.cancelling) continue;
    try {
      refreshed += (await refreshRollups(job.id, deps)).written;
    } catch (thrown) {
      deps.logger.warn(`Job ${job.id}: cost rollups not refreshed now: ${ensureError(thrown).message}`);
    }
  }
  return refreshed;
}
