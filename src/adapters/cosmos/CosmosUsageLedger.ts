import { BulkOperationType, type Container, type JSONObject, type SqlParameter } from '@azure/cosmos';
import { CosmosBulkWriter } from './CosmosBulkWriter.js';
import { LedgerState, type LedgerEntry, type LedgerTotals, type UsageLedger } from '../../app/ports.js';
import type { RollupKey } from '../../core/costReport.js';

const asBody = (entry: LedgerEntry): JSONObject => ({ ...entry });

const PAGE_SIZE = 500;
/** Rows of a few short fields: a large job's entries in a few pages, far under Cosmos's 4 MB a page. */
const LISTING_PAGE_SIZE = 10_000;

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
    const status = await this.#writes.write({ operationType: BulkOperationType.Create, partitionKey: entry.jobId, resourceBody: asBody(entry) });
    // 409: this call is already recorded (the write was retried).
    if (status === 201) return true;
    if (status === 409) return false;
    throw new Error(`Recording ledger entry ${entry.id} failed with status ${status}`);
  }

  async settle(entry: LedgerEntry): Promise<void> {
    const status = await this.#writes.write({ operationType: BulkOperationType.Upsert, partitionKey: entry.jobId, resourceBody: asBody(entry) });
    if (status !== 200 && status !== 201) throw new Error(`Settling ledger entry ${entry.id} failed with status ${status}`);
  }

  async discard(jobId: string, id: string): Promise<void> {
    const status = await this.#writes.write({ operationType: BulkOperationType.Delete, partitionKey: jobId, id });
    if (status !== 204 && status !== 404) throw new Error(`Removing ledger entry ${id} failed with status ${status}`);
  }

  async totals(jobId: string, filter?: RollupKey): Promise<LedgerTotals> {
    // One listing of four small fields, summed here: one query however the sums are asked for (aggregates
    // inside an object, or GROUP BY, are not available everywhere this runs, and five scalar queries
    // would each read the same entries).
    const totals = { calls: 0, unconfirmedCalls: 0, promptTokens: 0, completionTokens: 0, costInNanos: 0 };
    const rows = await this.#values<{ state?: string; promptTokens: number; completionTokens: number; costInNanos: number }>(
      'SELECT c.state, c.promptTokens, c.completionTokens, c.costInNanos FROM c',
      jobId,
      filter,
      LISTING_PAGE_SIZE,
    );
    for (const row of rows) {
      totals.calls += 1;
      if (row.state === LedgerState.sent) totals.unconfirmedCalls += 1;
      totals.promptTokens += row.promptTokens;
      totals.completionTokens += row.completionTokens;
      totals.costInNanos += row.costInNanos;
    }
    return totals;
  }

  async currencyOf(jobId: string, key: RollupKey): Promise<string | undefined> {
    const [currency] = await this.#values<string>('SELECT TOP 1 VALUE c.currency FROM c', jobId, key);
    return currency;
  }

  async listKeys(jobId: string): Promise<RollupKey[]> {
    // No DISTINCT: read the two small fields of every entry and keep each pair once.
    const keys = new Map<string, RollupKey>();
    for (const row of await this.#values<RollupKey>('SELECT c.day, c.model FROM c', jobId, undefined, LISTING_PAGE_SIZE)) {
      keys.set(`${row.day}|${row.model}`, { day: row.day, model: row.model });
    }
    return [...keys.values()];
  }

  async *listEntries(jobId: string): AsyncIterable<LedgerEntry> {
    const iterator = this.container.items.query<LedgerEntry & Record<string, unknown>>(
      { query: 'SELECT * FROM c WHERE c.jobId = @jobId ORDER BY c.atInMs', parameters: [{ name: '@jobId', value: jobId }] },
      { maxItemCount: PAGE_SIZE },
    );
    while (iterator.hasMoreResults()) {
      const page = await iterator.fetchNext();
      for (const resource of page.resources) {
        const { _rid, _self, _etag, _attachments, _ts, ...entry } = resource;
        yield entry as unknown as LedgerEntry;
      }
    }
  }

  async #values<T>(select: string, jobId: string, filter?: RollupKey, pageSize = PAGE_SIZE): Promise<T[]> {
    const parameters: SqlParameter[] = [{ name: '@jobId', value: jobId }];
    let where = 'c.jobId = @jobId';
    if (filter !== undefined) {
      where += ' AND c.day = @day AND c.model = @model';
      parameters.push({ name: '@day', value: filter.day }, { name: '@model', value: filter.model });
    }
    const { resources } = await this.container.items.query<T>({ query: `${select} WHERE ${where}`, parameters }, { maxItemCount: pageSize }).fetchAll();
    return resources;
  }
}
