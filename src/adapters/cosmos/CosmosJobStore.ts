import { BulkOperationType, type Container, type OperationInput, type PatchOperation } from '@azure/cosmos';
import { statusOf } from './statusOf.js';
import { InvalidPageTokenError, type JobStore, type OutcomeTotals, type StoredJob } from '../../app/ports.js';
import { ACTIVE_STATUSES, type Job, type JobData } from '../../core/job.js';
import type { LineOutcome } from '../../core/lineOutcome.js';
import { runBulk } from './runBulk.js';

/** A line outcome as stored: flat token fields so SUM() never meets a null. */
interface OutcomeDocument extends LineOutcome {
  readonly id: string;
  readonly promptTokens: number;
  readonly completionTokens: number;
}

interface JobDocument extends Job {
  readonly _etag?: string;
}

function toStoredJob(resource: JobDocument | undefined): StoredJob | undefined {
  if (resource === undefined) return undefined;
  const { _etag, ...job } = resource as JobDocument & Record<string, unknown>;
  for (const key of ['_rid', '_self', '_attachments', '_ts']) delete (job as Record<string, unknown>)[key];
  return { job: job, etag: _etag ?? '' };
}

export class CosmosJobStore implements JobStore {
  constructor(
    private readonly jobs: Container,
    private readonly lines: Container,
  ) {}

  async createJob(job: Job): Promise<boolean> {
    try {
      await this.jobs.items.create(job);
      return true;
    } catch (error) {
      if (statusOf(error) === 409) return false;
      throw error;
    }
  }

  async getJob(jobId: string): Promise<StoredJob | undefined> {
    const { resource } = await this.jobs.item(jobId, jobId).read<JobDocument>();
    return toStoredJob(resource);
  }

  async replaceJob(job: Job, etag: string): Promise<StoredJob | undefined> {
    try {
      const { resource } = await this.jobs.item(job.id, job.id).replace<JobDocument>(job as JobDocument, {
        accessCondition: { type: 'IfMatch', condition: etag },
      });
      return toStoredJob(resource);
    } catch (error) {
      if (statusOf(error) === 412) return undefined;
      throw error;
    }
  }

  async addToJobCounters(jobId: string, delta: OutcomeTotals, nowInMs: number): Promise<StoredJob> {
    const operations: PatchOperation[] = [
      { op: 'set', path: '/progressAtInMs', value: nowInMs },
      { op: 'incr', path: '/counts/succeeded', value: delta.succeeded },
      { op: 'incr', path: '/counts/failed', value: delta.failed },
      { op: 'incr', path: '/usage/promptTokens', value: delta.promptTokens },
      { op: 'incr', path: '/usage/completionTokens', value: delta.completionTokens },
      { op: 'incr', path: '/usage/costInNanos', value: delta.costInNanos },
    ];
    if ((delta.cacheHits ?? 0) > 0) {
      operations.push(
        { op: 'incr', path: '/cacheHits', value: delta.cacheHits ?? 0 },
        { op: 'incr', path: '/cacheSavedInNanos', value: delta.cacheSavedInNanos ?? 0 },
      );
    }
    const { resource } = await this.jobs.item(jobId, jobId).patch<JobDocument>(operations);
    const stored = toStoredJob(resource);
    if (stored === undefined) throw new Error(`Job ${jobId} vanished while its counters were updated`);
    return stored;
  }

  async listJobs(options: { pageSize: number; continuationToken?: string | undefined }) {
    const iterator = this.jobs.items.query<JobDocument>('SELECT * FROM c ORDER BY c.createdAtInMs DESC', {
      maxItemCount: options.pageSize,
      continuationToken: options.continuationToken,
    });
    let page: Awaited<ReturnType<typeof iterator.fetchNext>>;
    try {
      page = await iterator.fetchNext();
    } catch (error) {
      // The query is fixed: a 400 on a continued listing is the token's fault.
      if (options.continuationToken !== undefined && statusOf(error) === 400)
        throw new InvalidPageTokenError({ cause: error });
      throw error;
    }
    return {
      jobs: page.resources.map((r) => toStoredJob(r)!.job),
      continuationToken: page.hasMoreResults ? page.continuationToken : undefined,
    };
  }

  async *listActiveJobs(): AsyncIterable<Job> {
    const iterator = this.jobs.items.query<JobDocument>({
      query: 'SELECT * FROM c WHERE ARRAY_CONTAINS(@statuses, c.status)',
      parameters: [{ name: '@statuses', value: [...ACTIVE_STATUSES] }],
    });
    while (iterator.hasMoreResults()) {
      const page = await iterator.fetchNext();
      for (const resource of page.resources) yield toStoredJob(resource)!.job;
    }
  }

  async *listFinishedBefore(beforeInMs: number, data: JobData): AsyncIterable<Job> {
    // Across partitions, but only the jobs due now: those of the retention period's first day, at most.
    const field = data === 'outcomes' ? 'outcomesAtInMs' : 'filesAtInMs';
    const iterator = this.jobs.items.query<JobDocument>({
      query: `SELECT * FROM c WHERE c.finishedAtInMs < @before AND NOT IS_DEFINED(c.removed.${field})`,
      parameters: [{ name: '@before', value: beforeInMs }],
    });
    while (iterator.hasMoreResults()) {
      const page = await iterator.fetchNext();
      for (const resource of page.resources) yield toStoredJob(resource)!.job;
    }
  }

  async deleteOutcomes(jobId: string, lines: readonly number[]): Promise<void> {
    const operations = lines.map((line): OperationInput => ({
      operationType: BulkOperationType.Delete,
      partitionKey: jobId,
      id: String(line),
    }));
    for (const status of await runBulk(this.lines, operations)) {
      if (status !== 204 && status !== 404)
        throw new Error(`Deleting an outcome of job ${jobId} failed with status ${status}`);
    }
  }

  async *listOutcomeLines(jobId: string): AsyncIterable<number> {
    const iterator = this.lines.items.query<number>(
      {
        query: 'SELECT VALUE c.line FROM c WHERE c.jobId = @jobId ORDER BY c.line',
        parameters: [{ name: '@jobId', value: jobId }],
      },
      { maxItemCount: 5000 },
    );
    while (iterator.hasMoreResults()) {
      const page = await iterator.fetchNext();
      yield* page.resources;
    }
  }

  async recordOutcomes(outcomes: readonly LineOutcome[]): Promise<LineOutcome[]> {
    const operations = outcomes.map((outcome): OperationInput => ({
      operationType: BulkOperationType.Create,
      partitionKey: outcome.jobId,
      resourceBody: toOutcomeDocument(outcome) as unknown as Record<string, never>,
    }));
    const statuses = await runBulk(this.lines, operations);
    return outcomes.filter((outcome, index) => {
      const status = statuses[index];
      if (status !== 201 && status !== 409)
        throw new Error(`Recording the outcome of line ${outcome.line} failed with status ${String(status)}`);
      return status === 201;
    });
  }

  async linesWithOutcome(jobId: string, lines: readonly number[]): Promise<Set<number>> {
    // Bulk point reads by id: one request per 100 lines, each read costing the same however large the job.
    const unique = [...new Set(lines)];
    const statuses = await runBulk(
      this.lines,
      unique.map((line): OperationInput => ({
        operationType: BulkOperationType.Read,
        partitionKey: jobId,
        id: String(line),
      })),
    );
    return new Set(
      unique.filter((line, index) => {
        const status = statuses[index];
        if (status !== 200 && status !== 404)
          throw new Error(`Looking up the outcome of line ${line} failed with status ${String(status)}`);
        return status === 200;
      }),
    );
  }

  async totalsOfOutcomes(jobId: string): Promise<OutcomeTotals> {
    const scalar = async (select: string, where = ''): Promise<number> => {
      const { resources } = await this.lines.items
        .query<number>({
          query: `SELECT VALUE ${select} FROM c WHERE c.jobId = @jobId ${where}`,
          parameters: [{ name: '@jobId', value: jobId }],
        })
        .fetchAll();
      return resources[0] ?? 0;
    };
    const [succeeded, all, promptTokens, completionTokens, costInNanos] = await Promise.all([
      scalar('COUNT(1)', "AND c.status = 'succeeded'"),
      scalar('COUNT(1)'),
      scalar('SUM(c.promptTokens)'),
      scalar('SUM(c.completionTokens)'),
      scalar('SUM(c.costInNanos)'),
    ]);
    return { succeeded, failed: all - succeeded, promptTokens, completionTokens, costInNanos };
  }

  async *listOutcomes(
    jobId: string,
    options: { afterLine?: number; status?: 'succeeded' | 'not_succeeded' } = {},
  ): AsyncIterable<LineOutcome> {
    const statusFilter =
      options.status === 'succeeded'
        ? "AND c.status = 'succeeded'"
        : options.status === 'not_succeeded'
          ? "AND c.status != 'succeeded'"
          : '';
    const iterator = this.lines.items.query<OutcomeDocument>(
      {
        query: `SELECT * FROM c WHERE c.jobId = @jobId AND c.line > @after ${statusFilter} ORDER BY c.line`,
        parameters: [
          { name: '@jobId', value: jobId },
          { name: '@after', value: options.afterLine ?? 0 },
        ],
      },
      // Large pages: the results file is written from this listing; Cosmos still caps a page at 4 MB.
      { maxItemCount: 10_000 },
    );
    // The next page is asked for while this one is consumed: the caller writes a file from it, and the
    // two round trips overlap instead of taking turns.
    let next = iterator.hasMoreResults() ? iterator.fetchNext() : undefined;
    while (next !== undefined) {
      const page = await next;
      next = iterator.hasMoreResults() ? iterator.fetchNext() : undefined;
      // A prefetch that fails while this page is consumed is awaited, and thrown, on the next turn.
      next?.catch(() => undefined);
      for (const resource of page.resources) yield fromOutcomeDocument(resource);
    }
  }
}

function toOutcomeDocument(outcome: LineOutcome): OutcomeDocument {
  return {
    ...outcome,
    id: String(outcome.line),
    promptTokens: outcome.usage?.prompt_tokens ?? 0,
    completionTokens: outcome.usage?.completion_tokens ?? 0,
  };
}

function fromOutcomeDocument(d: OutcomeDocument): LineOutcome {
  return {
    jobId: d.jobId,
    line: d.line,
    customId: d.customId,
    status: d.status,
    response: d.response,
    error: d.error,
    usage: d.usage,
    costInNanos: d.costInNanos,
    attempts: d.attempts,
    startedAtInMs: d.startedAtInMs,
    finishedAtInMs: d.finishedAtInMs,
    latencyInMs: d.latencyInMs,
  };
}
