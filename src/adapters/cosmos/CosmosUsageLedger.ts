import { BulkOperationType, type Container, type JSONObject } from '@azure/cosmos';
import { CosmosBulkWriter } from './CosmosBulkWriter.js';
import { LedgerSums, sumUse, type LedgerRow } from '../../app/ledgerTotals.js';
import type { DeploymentUse, LedgerEntry, LedgerKeyTotals, UsageLedger } from '../../app/ports.js';

const asBody = (entry: LedgerEntry): JSONObject => ({ ...entry });

const PAGE_SIZE = 500;
/**
 * Rows of seven short fields (~150 bytes): 25,000 of them are about the 4 MB Cosmos returns in a page
 * at most, so a smaller page would only cost more round trips. A 20,000-line job is summed from one
 * page (the local stand-in also recomputes the whole query for every page).
 */
const LISTING_PAGE_SIZE = 25_000;

/**
 * The usage ledger: one document per call that may be billed (see LedgerEntry), partitioned by job.
 * Every query filters on the job id, so each reads one partition.
 */
export class CosmosUsageLedger implements UsageLedger {
  /** Two writes per call: they go out in bulk with the writes of the calls around them. */
  readonly #writes: CosmosBulkWriter;

  constructor(private readonly container: Container) {
    this.#writes = new CosmosBulkWriter(container);
  }

  async record(entry: LedgerEntry): Promise<boolean> {
    const status = await this.#writes.write({
      operationType: BulkOperationType.Create,
      partitionKey: entry.jobId,
      resourceBody: asBody(entry),
    });
    // 409: this call is already recorded (the write was retried).
    if (status === 201) return true;
    if (status === 409) return false;
    throw new Error(`Recording ledger entry ${entry.id} failed with status ${status}`);
  }

  async settle(entry: LedgerEntry): Promise<void> {
    const status = await this.#writes.write({
      operationType: BulkOperationType.Upsert,
      partitionKey: entry.jobId,
      resourceBody: asBody(entry),
    });
    if (status !== 200 && status !== 201)
      throw new Error(`Settling ledger entry ${entry.id} failed with status ${status}`);
  }

  async discard(jobId: string, id: string): Promise<void> {
    const status = await this.#writes.write({ operationType: BulkOperationType.Delete, partitionKey: jobId, id });
    if (status !== 204 && status !== 404) throw new Error(`Removing ledger entry ${id} failed with status ${status}`);
  }

  async totalsByKey(jobId: string): Promise<LedgerKeyTotals[]> {
    // One listing of a few small fields, summed here: aggregates inside an object, or GROUP BY, are
    // not available everywhere this runs, and a query per sum would read the same entries again.
    // Page by page: a million-line job's ledger is never held whole.
    const iterator = this.container.items.query<LedgerRow>(
      {
        query:
          'SELECT c.day, c.model, c.currency, c.state, c.promptTokens, c.completionTokens, c.costInNanos, c.tags FROM c WHERE c.jobId = @jobId',
        parameters: [{ name: '@jobId', value: jobId }],
      },
      { maxItemCount: LISTING_PAGE_SIZE },
    );
    const sums = new LedgerSums();
    while (iterator.hasMoreResults()) {
      const page = await iterator.fetchNext();
      for (const row of page.resources) sums.add(row);
    }
    return sums.byKey();
  }

  async recentUse(sinceInMs: number): Promise<DeploymentUse[]> {
    // Across partitions (every job), two short fields per call of the last window: at 1,000 requests a
    // minute, a thousand small rows. Summed here: GROUP BY is not available everywhere this runs.
    const iterator = this.container.items.query<{ deployment: string; reservedTokens: number }>(
      {
        query: 'SELECT c.deployment, c.reservedTokens FROM c WHERE c.atInMs >= @since',
        parameters: [{ name: '@since', value: sinceInMs }],
      },
      { maxItemCount: LISTING_PAGE_SIZE },
    );
    const rows: Array<{ deployment: string; reservedTokens: number }> = [];
    while (iterator.hasMoreResults()) {
      const page = await iterator.fetchNext();
      rows.push(...page.resources);
    }
    return sumUse(rows);
  }

  async *listEntries(jobId: string): AsyncIterable<LedgerEntry> {
    const iterator = this.container.items.query<LedgerEntry & Record<string, unknown>>(
      {
        query: 'SELECT * FROM c WHERE c.jobId = @jobId ORDER BY c.atInMs',
        parameters: [{ name: '@jobId', value: jobId }],
      },
      { maxItemCount: PAGE_SIZE },
    );
    while (iterator.hasMoreResults()) {
      const page = await iterator.fetchNext();
      for (const resource of page.resources) {
        const { _rid, _self, _etag, _attachments, _ts, ...entry } = resource;
        yield entry;
      }
    }
  }
}
