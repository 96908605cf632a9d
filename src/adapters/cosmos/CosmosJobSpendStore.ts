import type { Container, PatchOperation } from '@azure/cosmos';
import { statusOf } from './statusOf.js';
import type { JobSpendStore } from '../../app/ports.js';

/**
 * The spend counters on the job document (`/spend`), changed with patch only: a reservation is one
 * conditional patch, so concurrent workers on any number of instances cannot together pass the cap.
 */
export class CosmosJobSpendStore implements JobSpendStore {
  constructor(private readonly jobs: Container) {}

  async reserve(jobId: string, amountInNanos: number, capInNanos: number): Promise<boolean> {
    const limit = capInNanos - amountInNanos;
    if (limit < 0) return false;
    try {
      await this.jobs.item(jobId, jobId).patch({
        // Integers only, written by this code: nothing to escape.
        condition: `FROM c WHERE c.spend.committed + c.spend.reserved <= ${Math.floor(limit)}`,
        operations: [{ op: 'incr', path: '/spend/reserved', value: amountInNanos }],
      });
      return true;
    } catch (error) {
      if (statusOf(error) === 412) return false;
      throw error;
    }
  }

  async settle(
    jobId: string,
    settlement: { costInNanos: number; calls: number; releaseInNanos: number; unconfirmedCalls?: number },
  ): Promise<void> {
    const operations: PatchOperation[] = [];
    const unconfirmed = settlement.unconfirmedCalls ?? 0;
    if (unconfirmed !== 0) operations.push({ op: 'incr', path: '/spend/unconfirmedCalls', value: unconfirmed });
    if (settlement.costInNanos !== 0)
      operations.push({ op: 'incr', path: '/spend/committed', value: settlement.costInNanos });
    if (settlement.calls !== 0) operations.push({ op: 'incr', path: '/spend/calls', value: settlement.calls });
    if (settlement.releaseInNanos !== 0)
      operations.push({ op: 'incr', path: '/spend/reserved', value: -settlement.releaseInNanos });
    if (operations.length > 0) await this.jobs.item(jobId, jobId).patch(operations);
  }

  async markCapReached(jobId: string, atInMs: number): Promise<void> {
    try {
      // The first refusal's time is kept.
      await this.jobs.item(jobId, jobId).patch({
        condition: 'FROM c WHERE NOT IS_DEFINED(c.spend.capReachedAtInMs)',
        operations: [{ op: 'set', path: '/spend/capReachedAtInMs', value: atInMs }],
      });
    } catch (error) {
      if (statusOf(error) !== 412) throw error;
    }
  }
}
