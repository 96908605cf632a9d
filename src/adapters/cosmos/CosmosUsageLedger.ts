import { ErrorResponse, type Container, type SqlParameter } from '@azure/cosmos';
import { LedgerState, type LedgerEntry, type LedgerTotals, type UsageLedger } from '../../app/ports.js';
import type { RollupKey } from '../../core/costReport.js';

const statusOf = (error: unknown): number | undefined =>
  error instanceof ErrorResponse ? (error.code as number | undefined) : (error as { code?: number } | null)?.code;

const PAGE_SIZE = 500;

/**
 * The usage ledger: one document per call that may be billed (see LedgerEntry), partitioned by job, created once. Every query
 * filters on the job id, so each reads one partition; sums are separate scalar queries because
 * aggregates inside an object (and GROUP BY) are not available everywhere this runs.
 */
export class CosmosUsageLedger implements UsageLedger {
  constructor(private readonly container: Container) {}

  async record(entry: LedgerEntry): Promise<boolean> {
    try {
      await this.container.items.create(entry);
      return true;
    } catch (error) {
      // 409: this call is already recorded (the write was retried).
      if (statusOf(error) !== 409) throw error;
      return false;
    }
  }

  async settle(entry: LedgerEntry): Promise<void> {
    await this.container.items.upsert(entry);
  }

  async discard(jobId: string, id: string): Promise<void> {
    try {
      await this.container.item(id, jobId).delete();
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
  }

  async totals(jobId: string, filter?: RollupKey): Promise<LedgerTotals> {
    const [calls, unconfirmedCalls, promptTokens, completionTokens, costInNanos] = await Promise.all(
      [
        ['COUNT(1)', ''],
        ['COUNT(1)', ` AND c.state = '${LedgerState.sent}'`],
        ['SUM(c.promptTokens)', ''],
        ['SUM(c.completionTokens)', ''],
        ['SUM(c.costInNanos)', ''],
      ].map(async ([select, and]) => {
        const [value] = await this.#values<number>(`SELECT VALUE ${select!} FROM c`, jobId, filter, and);
        return value ?? 0;
      }),
    );
    return { calls: calls!, unconfirmedCalls: unconfirmedCalls!, promptTokens: promptTokens!, completionTokens: completionTokens!, costInNanos: costInNanos! };
  }

  async currencyOf(jobId: string, key: RollupKey): Promise<string | undefined> {
    const [currency] = await this.#values<string>('SELECT TOP 1 VALUE c.currency FROM c', jobId, key);
    return currency;
  }

  async listKeys(jobId: string): Promise<RollupKey[]> {
    // No DISTINCT: read the two small fields of every entry and keep each pair once.
    const keys = new Map<string, RollupKey>();
    for (const row of await this.#values<RollupKey>('SELECT c.day, c.model FROM c', jobId)) {
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

  /** `and`: a further condition written by this class, never from input. */
  async #values<T>(select: string, jobId: string, filter?: RollupKey, and = ''): Promise<T[]> {
    const parameters: SqlParameter[] = [{ name: '@jobId', value: jobId }];
    let where = 'c.jobId = @jobId';
    if (filter !== undefined) {
      where += ' AND c.day = @day AND c.model = @model';
      parameters.push({ name: '@day', value: filter.day }, { name: '@model', value: filter.model });
    }
    const { resources } = await this.container.items.query<T>({ query: `${select} WHERE ${where}${and}`, parameters }, { maxItemCount: PAGE_SIZE }).fetchAll();
    return resources;
  }
}
