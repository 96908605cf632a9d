import { InvalidPageTokenError, type JobStore, type OutcomeTotals, type StoredJob } from '../../app/ports.js';
import { ACTIVE_STATUSES, type Job, type JobData } from '../../core/job.js';
import type { LineOutcome } from '../../core/lineOutcome.js';
import { totalsOf } from '../../core/lineOutcome.js';

/** The JobStore contract in memory: for use-case tests and benchmarks. Passes the same conformance suite as Cosmos. */
export class InMemoryJobStore implements JobStore {
  readonly #jobs = new Map<string, StoredJob>();
  readonly #outcomes = new Map<string, Map<number, LineOutcome>>();
  #version = 0;

  #store(job: Job): StoredJob {
    this.#version += 1;
    const stored = { job: structuredClone(job), etag: `"${this.#version}"` };
    this.#jobs.set(job.id, stored);
    return structuredClone(stored);
  }

  async createJob(job: Job): Promise<boolean> {
    if (this.#jobs.has(job.id)) return false;
    this.#store(job);
    return true;
  }

  async getJob(jobId: string): Promise<StoredJob | undefined> {
    const stored = this.#jobs.get(jobId);
    return stored === undefined ? undefined : structuredClone(stored);
  }

  async replaceJob(job: Job, etag: string): Promise<StoredJob | undefined> {
    const current = this.#jobs.get(job.id);
    if (current === undefined || current.etag !== etag) return undefined;
    return this.#store(job);
  }

  async addToJobCounters(jobId: string, delta: OutcomeTotals, nowInMs: number): Promise<StoredJob> {
    const current = this.#jobs.get(jobId);
    if (current === undefined) throw new Error(`Job ${jobId} does not exist`);
    const job = current.job;
    return this.#store({
      ...job,
      progressAtInMs: nowInMs,
      counts: { succeeded: job.counts.succeeded + delta.succeeded, failed: job.counts.failed + delta.failed },
      usage: {
        promptTokens: job.usage.promptTokens + delta.promptTokens,
        completionTokens: job.usage.completionTokens + delta.completionTokens,
        costInNanos: job.usage.costInNanos + delta.costInNanos,
      },
      ...((delta.cacheHits ?? 0) > 0
        ? {
            cacheHits: (job.cacheHits ?? 0) + (delta.cacheHits ?? 0),
            cacheSavedInNanos: (job.cacheSavedInNanos ?? 0) + (delta.cacheSavedInNanos ?? 0),
          }
        : {}),
    });
  }

  async *listFinishedBefore(beforeInMs: number, data: JobData): AsyncIterable<Job> {
    for (const { job } of [...this.#jobs.values()]) {
      const removedAt = data === 'outcomes' ? job.removed?.outcomesAtInMs : job.removed?.filesAtInMs;
      if (job.finishedAtInMs !== undefined && job.finishedAtInMs < beforeInMs && removedAt === undefined)
        yield structuredClone(job);
    }
  }

  async listJobs(options: { pageSize: number; continuationToken?: string | undefined }) {
    const all = [...this.#jobs.values()]
      .map((s) => s.job)
      .sort((a, b) => b.createdAtInMs - a.createdAtInMs || a.id.localeCompare(b.id));
    const start = options.continuationToken === undefined ? 0 : offsetOf(options.continuationToken);
    const page = all.slice(start, start + options.pageSize);
    const next = start + options.pageSize;
    return {
      jobs: structuredClone(page),
      continuationToken: next < all.length ? JSON.stringify({ offset: next }) : undefined,
    };
  }

  async *listActiveJobs(): AsyncIterable<Job> {
    for (const { job } of [...this.#jobs.values()])
      if (ACTIVE_STATUSES.includes(job.status)) yield structuredClone(job);
  }

  async deleteOutcomes(jobId: string, lines: readonly number[]): Promise<void> {
    const outcomes = this.#outcomes.get(jobId);
    for (const line of lines) outcomes?.delete(line);
  }

  async *listOutcomeLines(jobId: string): AsyncIterable<number> {
    yield* [...(this.#outcomes.get(jobId)?.keys() ?? [])].sort((a, b) => a - b);
  }

  async recordOutcomes(outcomes: readonly LineOutcome[]): Promise<LineOutcome[]> {
    const created: LineOutcome[] = [];
    for (const outcome of outcomes) {
      let lines = this.#outcomes.get(outcome.jobId);
      if (lines === undefined) this.#outcomes.set(outcome.jobId, (lines = new Map<number, LineOutcome>()));
      if (lines.has(outcome.line)) continue;
      lines.set(outcome.line, structuredClone(outcome));
      created.push(outcome);
    }
    return created;
  }

  async linesWithOutcome(jobId: string, lines: readonly number[]): Promise<Set<number>> {
    const recorded = this.#outcomes.get(jobId) ?? new Map<number, LineOutcome>();
    return new Set(lines.filter((line) => recorded.has(line)));
  }

  async totalsOfOutcomes(jobId: string): Promise<OutcomeTotals> {
    return totalsOf([...(this.#outcomes.get(jobId)?.values() ?? [])]);
  }

  async *listOutcomes(
    jobId: string,
    options: { afterLine?: number; status?: 'succeeded' | 'not_succeeded' } = {},
  ): AsyncIterable<LineOutcome> {
    const lines = [...(this.#outcomes.get(jobId)?.values() ?? [])].sort((a, b) => a.line - b.line);
    for (const outcome of lines) {
      if (outcome.line <= (options.afterLine ?? 0)) continue;
      if (options.status === 'succeeded' && outcome.status !== 'succeeded') continue;
      if (options.status === 'not_succeeded' && outcome.status === 'succeeded') continue;
      yield structuredClone(outcome);
    }
  }
}

function offsetOf(token: string): number {
  let parsed: unknown;
  try {
    parsed = JSON.parse(token);
  } catch (error) {
    throw new InvalidPageTokenError({ cause: error });
  }
  const offset = (parsed as { offset?: unknown } | null)?.offset;
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) throw new InvalidPageTokenError();
  return offset;
}
