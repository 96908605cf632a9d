import type { JobSpendStore, JobStore } from '../../app/ports.js';
import type { Job } from '../../core/job.js';
import { NO_SPEND } from '../../core/spendingCap.js';

/**
 * The spend counters over any JobStore, with read + replace-if-unchanged standing in for Cosmos's
 * conditional patch: the same contract, so use-case tests exercise the same races.
 */
export class InMemoryJobSpendStore implements JobSpendStore {
  constructor(private readonly jobs: JobStore) {}

  async reserve(jobId: string, amountInNanos: number, capInNanos: number): Promise<boolean> {
    let fits = false;
    await this.#update(jobId, (job) => {
      const spend = job.spend ?? NO_SPEND;
      fits = spend.committed + spend.reserved + amountInNanos <= capInNanos;
      return fits ? { ...job, spend: { ...spend, reserved: spend.reserved + amountInNanos } } : undefined;
    });
    return fits;
  }

  async settle(
    jobId: string,
    settlement: { costInNanos: number; calls: number; releaseInNanos: number; unconfirmedCalls?: number },
  ): Promise<void> {
    await this.#update(jobId, (job) => {
      const spend = job.spend ?? NO_SPEND;
      return {
        ...job,
        spend: {
          ...spend,
          committed: spend.committed + settlement.costInNanos,
          reserved: spend.reserved - settlement.releaseInNanos,
          calls: spend.calls + settlement.calls,
          unconfirmedCalls: (spend.unconfirmedCalls ?? 0) + (settlement.unconfirmedCalls ?? 0),
        },
      };
    });
  }

  async markCapReached(jobId: string, atInMs: number): Promise<void> {
    await this.#update(jobId, (job) =>
      job.spend?.capReachedAtInMs !== undefined
        ? undefined
        : { ...job, spend: { ...(job.spend ?? NO_SPEND), capReachedAtInMs: atInMs } },
    );
  }

  async #update(jobId: string, change: (job: Job) => Job | undefined): Promise<void> {
    for (;;) {
      const current = await this.jobs.getJob(jobId);
      if (current === undefined) throw new Error(`Job ${jobId} does not exist`);
      const next = change(current.job);
      if (next === undefined || (await this.jobs.replaceJob(next, current.etag)) !== undefined) return;
    }
  }
}
