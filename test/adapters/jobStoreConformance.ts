import { describe, expect, it } from 'vitest';
import { InvalidPageTokenError, type JobStore } from '../../src/app/ports.js';
import { newJob, type Job } from '../../src/core/job.js';
import type { LineOutcome } from '../../src/core/lineOutcome.js';

let counter = 0;
export const uniqueJobId = (): string =>
  `job_${(Date.now().toString(16) + (counter++).toString(16).padStart(6, '0') + Math.random().toString(16).slice(2)).padEnd(32, '0').slice(0, 32)}`;

export function sampleJob(id = uniqueJobId(), createdAtInMs = 1_000): Job {
  return newJob({
    id,
    createdAtInMs,
    input: { container: 'in', name: 'f.jsonl', etag: '"e"', size: 10 },
    model: 'Phi-3-mini-4k-instruct',
    deployment: 'd',
  });
}

export function outcome(
  jobId: string,
  line: number,
  status: LineOutcome['status'] = 'succeeded',
  tokens = 10,
): LineOutcome {
  return {
    jobId,
    line,
    customId: `c-${line}`,
    status,
    response: status === 'succeeded' ? { status_code: 200, request_id: `r${line}`, body: { ok: line } } : null,
    error: status === 'succeeded' ? null : { code: 'x', message: 'failed' },
    usage: status === 'succeeded' ? { prompt_tokens: tokens, completion_tokens: 2, total_tokens: tokens + 2 } : null,
    costInNanos: status === 'succeeded' ? 1000 : 0,
    attempts: 1,
    startedAtInMs: 1,
    finishedAtInMs: 2,
    latencyInMs: 1,
  };
}

/** The JobStore contract. Every adapter (in memory, Cosmos) must pass it unchanged. */
export function describeJobStoreConformance(name: string, getStore: () => JobStore): void {
  describe(`JobStore contract: ${name}`, () => {
    it('creates once, reads back, and reports a duplicate create', async () => {
      const store = getStore();
      const job = sampleJob();
      expect(await store.createJob(job)).toBe(true);
      expect(await store.createJob(job)).toBe(false);
      const stored = await store.getJob(job.id);
      expect(stored?.job).toEqual(job);
      expect(stored?.etag).toBeTruthy();
      expect(await store.getJob(uniqueJobId())).toBeUndefined();
    });

    it('replaces only with the current etag', async () => {
      const store = getStore();
      const job = sampleJob();
      await store.createJob(job);
      const first = (await store.getJob(job.id))!;
      const replaced = await store.replaceJob({ ...job, status: 'in_progress' }, first.etag);
      expect(replaced?.job.status).toBe('in_progress');
      expect(await store.replaceJob({ ...job, status: 'completed' }, first.etag)).toBeUndefined();
      expect((await store.getJob(job.id))!.job.status).toBe('in_progress');
    });

    it('adds to counters without losing concurrent increments', async () => {
      const store = getStore();
      const job = sampleJob();
      await store.createJob(job);
      const delta = { succeeded: 1, failed: 2, promptTokens: 3, completionTokens: 4, costInNanos: 5 };
      await Promise.all(Array.from({ length: 10 }, (_, i) => store.addToJobCounters(job.id, delta, 5_000 + i)));
      const stored = (await store.getJob(job.id))!.job;
      expect(stored.progressAtInMs).toBeGreaterThanOrEqual(5_000);
      expect(stored.counts).toEqual({ succeeded: 10, failed: 20 });
      expect(stored.usage).toEqual({ promptTokens: 30, completionTokens: 40, costInNanos: 50 });
    });

    it('adds cache hits and what they saved to the job, starting from none', async () => {
      const store = getStore();
      const job = sampleJob();
      await store.createJob(job);
      const plain = { succeeded: 1, failed: 0, promptTokens: 0, completionTokens: 0, costInNanos: 0 };
      await store.addToJobCounters(job.id, { ...plain, cacheHits: 0, cacheSavedInNanos: 0 }, 1);
      expect((await store.getJob(job.id))!.job.cacheHits).toBeUndefined();
      const hits = { ...plain, cacheHits: 2, cacheSavedInNanos: 7 };
      await Promise.all([store.addToJobCounters(job.id, hits, 2), store.addToJobCounters(job.id, hits, 3)]);
      expect((await store.getJob(job.id))!.job).toMatchObject({
        counts: { succeeded: 3 },
        cacheHits: 4,
        cacheSavedInNanos: 14,
      });
    });

    it('records an outcome once: the first wins, repeats are reported as not created', async () => {
      const store = getStore();
      const jobId = uniqueJobId();
      const created = await store.recordOutcomes([outcome(jobId, 1), outcome(jobId, 2, 'failed')]);
      expect(created.map((o) => o.line)).toEqual([1, 2]);
      const again = await store.recordOutcomes([outcome(jobId, 2, 'succeeded'), outcome(jobId, 3)]);
      expect(again.map((o) => o.line)).toEqual([3]);
      const all = [];
      for await (const o of store.listOutcomes(jobId)) all.push(o);
      expect(all.map((o) => [o.line, o.status])).toEqual([
        [1, 'succeeded'],
        [2, 'failed'],
        [3, 'succeeded'],
      ]);
      expect(all[0]).toEqual(outcome(jobId, 1));
    });

    it('finds which of some lines have outcomes, and totals them exactly', async () => {
      const store = getStore();
      const jobId = uniqueJobId();
      await store.recordOutcomes([outcome(jobId, 1), outcome(jobId, 5, 'failed'), outcome(jobId, 9, 'succeeded', 7)]);
      expect([...(await store.linesWithOutcome(jobId, [2, 3, 5, 9, 9, 10]))].sort()).toEqual([5, 9]);
      expect([...(await store.linesWithOutcome(jobId, []))]).toEqual([]);
      const many = Array.from({ length: 250 }, (_, i) => i + 1);
      expect([...(await store.linesWithOutcome(jobId, many))].sort((a, b) => a - b)).toEqual([1, 5, 9]);
      expect(await store.totalsOfOutcomes(jobId)).toEqual({
        succeeded: 2,
        failed: 1,
        promptTokens: 17,
        completionTokens: 4,
        costInNanos: 2000,
      });
      expect(await store.totalsOfOutcomes(uniqueJobId())).toEqual({
        succeeded: 0,
        failed: 0,
        promptTokens: 0,
        completionTokens: 0,
        costInNanos: 0,
      });
    });

    it('lists outcomes in line order, filtered by status, across pages', async () => {
      const store = getStore();
      const jobId = uniqueJobId();
      const many = Array.from({ length: 620 }, (_, i) => outcome(jobId, 620 - i, i % 3 === 0 ? 'failed' : 'succeeded'));
      await store.recordOutcomes(many);
      const lines: number[] = [];
      for await (const o of store.listOutcomes(jobId, { status: 'succeeded' })) lines.push(o.line);
      const expected = many
        .filter((o) => o.status === 'succeeded')
        .map((o) => o.line)
        .sort((a, b) => a - b);
      expect(lines).toEqual(expected);
    });

    it('lists active jobs only', async () => {
      const store = getStore();
      const active = sampleJob();
      const done = { ...sampleJob(), status: 'completed' as const };
      await store.createJob(active);
      await store.createJob(done);
      const ids: string[] = [];
      for await (const job of store.listActiveJobs()) ids.push(job.id);
      expect(ids).toContain(active.id);
      expect(ids).not.toContain(done.id);
    });

    it('deletes outcomes so lines can run again, and lists the lines that have one', async () => {
      const store = getStore();
      const jobId = uniqueJobId();
      await store.recordOutcomes([outcome(jobId, 1), outcome(jobId, 2, 'failed'), outcome(jobId, 3, 'failed')]);
      await store.deleteOutcomes(jobId, [2, 3, 99]);
      const lines: number[] = [];
      for await (const line of store.listOutcomeLines(jobId)) lines.push(line);
      expect(lines).toEqual([1]);
      expect((await store.recordOutcomes([outcome(jobId, 2)])).map((o) => o.line)).toEqual([2]);
    });

    it('lists jobs newest first, in pages', async () => {
      const store = getStore();
      const base = 10_000_000_000 + counter * 1000;
      const ids = [uniqueJobId(), uniqueJobId(), uniqueJobId()];
      await store.createJob(sampleJob(ids[0], base + 1));
      await store.createJob(sampleJob(ids[1], base + 3));
      await store.createJob(sampleJob(ids[2], base + 2));
      const first = await store.listJobs({ pageSize: 2 });
      expect(first.jobs.map((j) => j.id)).toEqual([ids[1], ids[2]]);
      expect(first.continuationToken).toBeDefined();
      const second = await store.listJobs({ pageSize: 2, continuationToken: first.continuationToken });
      expect(second.jobs[0]!.id).toBe(ids[0]);
    });

    it('refuses a continuation token it did not hand out with InvalidPageTokenError', async () => {
      const store = getStore();
      await store.createJob(sampleJob());
      for (const token of ['{"x":1}', '1', '"abc"', '[]']) {
        await expect(store.listJobs({ pageSize: 2, continuationToken: token }), token).rejects.toBeInstanceOf(
          InvalidPageTokenError,
        );
      }
    });
  });
}
