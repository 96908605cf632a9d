import { describe, expect, it } from 'vitest';
import { cancelJob } from '../../src/app/cancelJob.js';
import { finalizeJob } from '../../src/app/finalizeJob.js';
import { ingestBlob, runIngestMessage } from '../../src/app/ingestBlob.js';
import { processRequestMessage } from '../../src/app/processRequestMessage.js';
import { sweep } from '../../src/app/sweep.js';
import { BlobChangedError } from '../../src/app/ports.js';
import { parseControlMessage } from '../../src/core/controlMessage.js';
import { requestMessageOf } from '../support/requestMessageOf.js';
import { chatLine, createWorld } from './fixtures.js';

type World = ReturnType<typeof createWorld>;

const CHUNK_LINES = 10;
const file = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => chatLine(`${prefix}-${i + 1}`, `prompt ${i + 1}`)).join('\n');

/** Runs the control and work queues as the functions would, until both are empty. */
async function drain(world: World): Promise<void> {
  const deps = { ...world.ingestDeps, chunkLines: CHUNK_LINES };
  for (let rounds = 0; rounds < 100; rounds += 1) {
    const control = world.controlQueue.drain();
    const work = world.requestQueue.drain();
    if (control.length === 0 && work.length === 0) return;
    for (const payload of work) await processRequestMessage(requestMessageOf(payload), world.workerDeps);
    for (const payload of control) {
      const message = parseControlMessage(payload);
      if (typeof message === 'string') throw new Error(message);
      if (message.kind === 'ingest') await runIngestMessage(message, deps);
      if (message.kind === 'finalize') await finalizeJob(message.jobId, world.finalizeDeps);
    }
  }
  throw new Error('the queues never emptied');
}

/** The first chunk of a 30-line file is read and its lines answered; its continuation waits on the control queue. */
async function firstChunkRead(world: World): Promise<string> {
  world.blobs.put('batch-input', 'in.jsonl', file('a', 30));
  const first = await ingestBlob('batch-input', 'in.jsonl', { ...world.ingestDeps, chunkLines: CHUNK_LINES });
  if (first.kind !== 'continued') throw new Error(`expected a continuation, got ${first.kind}`);
  for (const payload of world.requestQueue.drain()) {
    await processRequestMessage(requestMessageOf(payload), world.workerDeps);
  }
  return first.jobId;
}

async function outcomesOf(world: World, jobId: string) {
  const all = [];
  for await (const o of world.jobs.listOutcomes(jobId)) all.push(o);
  return all;
}

describe('input deleted or replaced between ingest chunks', () => {
  it.each(['deleted', 'replaced'] as const)('input %s: the job ends, failed, with the lines it read', async (what) => {
    const world = createWorld();
    const jobId = await firstChunkRead(world);
    if (what === 'deleted') world.blobs.delete('batch-input', 'in.jsonl');
    else world.blobs.put('batch-input', 'in.jsonl', file('b', 25));
    await drain(world);

    const { job } = (await world.jobs.getJob(jobId))!;
    expect(job.ingest.done).toBe(true);
    expect(job.status).toBe('failed');
    expect(job.jobError?.code).toBe('input_changed');
    expect(job.jobError?.message).toContain(what === 'deleted' ? 'was deleted' : 'was replaced');
    const outcomes = await outcomesOf(world, jobId);
    expect(outcomes.map((o) => o.line)).toEqual(Array.from({ length: CHUNK_LINES }, (_, i) => i + 1));
    expect(outcomes.every((o) => o.status === 'succeeded')).toBe(true);
  });

  it('a job cancelled mid-ingest whose input is then deleted still ends cancelled', async () => {
    const world = createWorld();
    const jobId = await firstChunkRead(world);
    await cancelJob({ jobs: world.jobs, controlQueue: world.controlQueue, clock: world.clock }, jobId);
    world.blobs.delete('batch-input', 'in.jsonl');
    await drain(world);
    expect((await world.jobs.getJob(jobId))!.job.status).toBe('cancelled');
  });

  it("the sweeper's resume of a stalled ingest whose input is gone ends the job instead of resuming it forever", async () => {
    const world = createWorld();
    const jobId = await firstChunkRead(world);
    world.controlQueue.drain(); // the continuation was lost
    world.blobs.delete('batch-input', 'in.jsonl');
    world.clock.now += 3_600_000;
    const report = await sweep(
      { ...world.ingestDeps, requestQueue: world.requestQueue, logger: world.ingestDeps.logger },
      { stallInMs: 600_000 },
    );
    expect(report.actions[jobId]).toBe('resume-ingest');
    await drain(world);
    const { job } = (await world.jobs.getJob(jobId))!;
    expect(job.status).toBe('failed');
    expect(job.jobError?.code).toBe('input_changed');
  });

  it('input replaced while a chunk is being read: what was read goes out, then the ingest ends', async () => {
    const world = createWorld();
    const jobId = await firstChunkRead(world);
    const open = world.blobs.openRead.bind(world.blobs);
    world.blobs.openRead = async (container, name, options) => {
      const chunks = await open(container, name, options);
      return (async function* () {
        yield* chunks;
        throw new BlobChangedError(container, name);
      })();
    };
    world.blobs.readChunkBytes = 64;
    await drain(world);
    const { job } = (await world.jobs.getJob(jobId))!;
    expect(job.status).toBe('failed');
    expect(job.jobError?.code).toBe('input_changed');
    const outcomes = await outcomesOf(world, jobId);
    expect(outcomes).toHaveLength(job.ingest.requests);
    expect(new Set(outcomes.map((o) => o.line)).size).toBe(outcomes.length);
  });
});
