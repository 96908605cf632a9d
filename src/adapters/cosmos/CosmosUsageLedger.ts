import { ErrorResponse, type Container } from '@azure/cosmos';
import type { LedgerEntry, UsageLedger } from '../../app/ports.js';

const statusOf = (error: unknown): number | undefined =>
  error instanceof ErrorResponse ? (error.code as number | undefined) : (error as { code?: number } | null)?.code;

/** The usage ledger: one document per billed call, partitioned by job, created once. */
export class CosmosUsageLedger implements UsageLedger {
  constructor(private readonly container: Container) {}

  async record(entry: LedgerEntry): Promise<void> {
    try {
      await this.container.items.create(entry);
    } catch (error) {
      // 409: this call is already recorded (the write was retried).
      if (statusOf(error) !== 409) throw error;
    }
  }
}
