import { describe, expect, it } from 'vitest';
import { ingestBlob } from '../../src/app/ingestBlob.js';
import type { Logger } from '../../src/app/Logger.js';
import type { JobStore } from '../../src/app/ports.js';
import { retryFailedLines } from '../../src/app/retryFailedLines.js';
import { sweep } from '../../src/app/sweep.js';
import type { RequestMessage } from '../../src/core/requestMessage.js';
import { chatLine, createWorld } from './fixtures.js';
import { finishedJobWithFailures, runQueues, type World } from './finishedJob.js';

async function outcomeLines(jobs: JobStore, jobId: string): Promise<number[]> {
  const lines: number[] = [];
  for await (const line of jobs.listOutcomeLines(jobId)) lines.push(line);
  return lines;
}

function recordingLogger(): Logger & { errors: string[] } {
  const errors: string[] = [];
  return { errors, info() {}, warn() {}, error: (message: string) => void errors.push(message) };
}

describe('retrying a job whose input is gone', () => {
  it.each([
    ['deleted', (world: World) => void world.blobs.delete('batch-input', 'in.jsonl'), /has been deleted/],
    [
      'overwritten',
      (world: World) => void world.blobs.put('batch-input', 'in.jsonl', chatLine('other', 'new file')),
      /has been replaced/,
    ],
  ])(
    'input %s: 409 with the reason, and the job, its outcomes and the queue stay as they were',
    async (_what, remove, reason) => {
      const { world, jobId } = await finishedJobWithFailures();
      const before = (await world.jobs.getJob(jobId))!;
      remove(world);

      await expect(retryFailedLines(world.ingestDeps, jobId, { retryableOnly: false })).rejects.toMatchObject({
        name: 'ConflictError',
        code: 'conflict',
        message: expect.stringMatching(reason),
      });

      const after = (await world.jobs.getJob(jobId))!;
      expect(after.etag).toBe(before.etag);
      expect(after.job.status).toBe('completed');
      expect(await outcomeLines(world.jobs, jobId)).toEqual([1, 2, 3, 4]);
      expect(world.requestQueue.sent).toHaveLength(0);
    },
  );
});

describe('the sweeper', () => {
  it('sweeps the other jobs when one of them cannot be looked after, and logs that one', async () => {
    const world = createWorld();
    const logger = recordingLogger();
    for (const name of ['a.jsonl', 'b.jsonl'])
      world.blobs.put('batch-input', name, [chatLine('x', 'one'), chatLine('y', 'two')].join('\n'));
    const a = await ingestBlob('batch-input', 'a.jsonl', world.ingestDeps);
    const b = await ingestBlob('batch-input', 'b.jsonl', world.ingestDeps);
    const [jobA, jobB] = [a, b].map((r) => (r.kind === 'ingested' ? r.jobId : ''));
    // Both jobs' work messages are lost; job A's input is deleted as well, so its lines cannot be read again.
    world.requestQueue.drain();
    world.blobs.delete('batch-input', 'a.jsonl');
    world.clock.now += 3_600_000;

    const report = await sweep({ ...world.ingestDeps, logger }, { stallInMs: 60_000 });

    expect(report.actions).toEqual({ [jobA!]: 'error', [jobB!]: 'requeued' });
    expect(report.requeuedLines).toBe(2);
    expect(logger.errors).toEqual([expect.stringContaining(`job ${jobA}`)]);
  });

  it('goes on past a job whose store reads fail', async () => {
    const world = createWorld();
    for (const name of ['a.jsonl', 'b.jsonl']) world.blobs.put('batch-input', name, chatLine('x', 'one'));
    const ids = [];
    for (const name of ['a.jsonl', 'b.jsonl']) {
      const r = await ingestBlob('batch-input', name, world.ingestDeps);
      ids.push(r.kind === 'ingested' ? r.jobId : '');
    }
    await runQueues(world);
    const [broken, fine] = ids as [string, string];
    // Both are complete but their finalisation was lost; reading one job's outcomes fails.
    for (const id of ids) {
      const stored = (await world.jobs.getJob(id))!;
      await world.jobs.replaceJob({ ...stored.job, status: 'in_progress' }, stored.etag);
    }
    const failing = new Proxy(world.jobs, {
      get(target, property, receiver) {
        if (property === 'totalsOfOutcomes') {
          return async (jobId: string) => {
            if (jobId === broken) throw new Error('store unavailable');
            return target.totalsOfOutcomes(jobId);
          };
        }
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    world.clock.now += 3_600_000;
    const report = await sweep(
      { ...world.ingestDeps, jobs: failing, logger: recordingLogger() },
      { stallInMs: 60_000 },
    );
    expect(report.actions).toEqual({ [broken]: 'error', [fine]: 'finalize' });
  });
});

describe('concurrent retries of one job (in memory)', () => {
  it('exactly one wins; the others get 409; every failed line is queued once and the counts stay right', async () => {
    const { world, jobId } = await finishedJobWithFailures();
    const results = await Promise.allSettled(
      [1, 2, 3].map(() => retryFailedLines(world.ingestDeps, jobId, { retryableOnly: false })),
    );

    const won = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(refused.map((r) => r.reason)).toEqual([
      expect.objectContaining({ code: 'conflict' }),
      expect.objectContaining({ code: 'conflict' }),
    ]);
    const job = (await world.jobs.getJob(jobId))!.job;
    expect(job).toMatchObject({ status: 'in_progress', retries: 1, counts: { succeeded: 1, failed: 0 } });
    const queuedLines = world.requestQueue.sent.flatMap((m) =>
      (m.payload as RequestMessage).items.map((item) => item.line),
    );
    expect(queuedLines.sort()).toEqual([2, 3, 4]);
  });
});
