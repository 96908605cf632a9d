import { HttpRequest, InvocationContext } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { httpHandler, jsonResponse } from '../../src/adapters/functions/httpResponses.js';
import { InMemoryJobStore } from '../../src/adapters/memory/InMemoryJobStore.js';
import { InMemoryFairShareStore } from '../../src/adapters/memory/InMemoryFairShareStore.js';
import { registerWork } from '../../src/app/jobScheduling.js';
import { InMemoryScheduleViews } from '../../src/adapters/memory/InMemoryScheduleViews.js';
import { changePriority, setJobPriority } from '../../src/app/changePriority.js';
import { ingestBlob } from '../../src/app/ingestBlob.js';
import { getJobStatus, listJobs } from '../../src/app/jobQueries.js';
import { createBatch, type BatchesDeps } from '../../src/app/openai/batches.js';
import type { FileStore, StoredFile } from '../../src/app/openai/ports.js';
import type { Job } from '../../src/core/job.js';
import type { JobStore, StoredJob } from '../../src/app/ports.js';
import { COMPLETION_WINDOW_LIMITS } from '../../src/core/openai/completionWindow.js';
import { toOpenAIBatch } from '../../src/core/openai/openaiObjects.js';
import { sampleJob } from '../adapters/jobStoreConformance.js';
import { chatLine, createWorld } from './fixtures.js';
import { runQueues } from './finishedJob.js';

const HIGH = { level: 'high', weight: 32 } as const;
const ONE_SUCCESS = { succeeded: 1, failed: 0, promptTokens: 0, completionTokens: 0, costInNanos: 0 };
const FILE_ID = `file-${'a'.repeat(32)}`;

async function dropFile(metadata: Record<string, string>) {
  const world = createWorld();
  world.blobs.put('batch-input', 'in.jsonl', `${chatLine('a', 'hello')}\n${chatLine('b', 'again')}\n`, metadata);
  const ingested = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
  if (ingested.kind !== 'ingested') throw new Error('not ingested');
  const job = async (): Promise<Job> => (await world.jobs.getJob(ingested.jobId))!.job;
  return { world, jobId: ingested.jobId, job };
}

describe('a dropped file’s priority, from its blob metadata', () => {
  it.each([
    [{}, undefined],
    [{ priority: 'high' }, HIGH],
    [{ Priority: 'LOW' }, { level: 'low', weight: 1 }],
    [{ priority: '12' }, { level: undefined, weight: 12 }],
    [{ priority: ' ' }, undefined],
  ])('%j gives the job priority %j', async (metadata, expected) => {
    const { job } = await dropFile(metadata);
    expect((await job()).priority).toEqual(expected);
  });

  it('an unreadable priority sends nothing, and the job fails saying why', async () => {
    const { world, job } = await dropFile({ priority: 'urgent' });
    expect((await job()).jobError).toMatchObject({ code: 'invalid_priority', param: 'priority' });
    await runQueues(world);
    const failed = await job();
    expect(failed.status).toBe('failed');
    expect(failed.counts.failed).toBe(2);
    expect(failed.jobError?.message).toMatch(/priority "urgent" is not high, normal, low or a whole-number weight/);
    expect(world.ledger.entries.size).toBe(0);
  });
});

/** A file store holding one uploaded batch file, for createBatch. */
function oneFileStore(): FileStore {
  const file: StoredFile = { id: FILE_ID, bytes: 10, createdAtInMs: 0, filename: 'in.jsonl', purpose: 'batch' };
  return {
    get: async (id) => (id === file.id ? file : undefined),
    copyTo: async () => ({ etag: '"1"', size: 10 }),
    upload: async () => {
      throw new Error('not used');
    },
    list: async function* () {},
    openRead: async () => undefined,
    delete: async () => false,
  };
}

function batchesDeps(): BatchesDeps {
  const world = createWorld();
  return {
    jobs: world.jobs,
    files: oneFileStore(),
    controlQueue: world.controlQueue,
    deployments: world.ingestDeps.deployments,
    clock: world.clock,
    newHex32: () => 'f'.repeat(32),
    outputContainer: 'batch-output',
    windowLimits: COMPLETION_WINDOW_LIMITS,
    defaultMaxCostInNanos: undefined,
  };
}

const batchBody = (metadata: Record<string, string>) => ({
  input_file_id: FILE_ID,
  endpoint: '/v1/chat/completions',
  completion_window: '24h',
  metadata,
});

describe('an API batch’s priority, from metadata.priority', () => {
  it('is read into the job, and the batch object keeps it in its metadata only', async () => {
    const deps = batchesDeps();
    const batch = await createBatch(deps, batchBody({ priority: 'High', team: 'search' }));
    expect((await deps.jobs.getJob(batch.id))!.job.priority).toEqual(HIGH);
    expect(batch.metadata).toEqual({ priority: 'High', team: 'search' });
    expect(batch).not.toHaveProperty('priority');
    expect(batch).not.toHaveProperty('share');
  });

  it('an unreadable one is a 400 naming metadata.priority, and no job is made', async () => {
    const deps = batchesDeps();
    const refused = createBatch(deps, batchBody({ priority: '0' }));
    await expect(refused).rejects.toMatchObject({
      name: 'BadRequestError',
      parameter: 'metadata.priority',
      message: expect.stringMatching(/^metadata\.priority "0" is not high, normal, low/),
    });
    expect((await deps.jobs.listJobs({ pageSize: 10 })).jobs).toEqual([]);
  });
});

const context = () => new InvocationContext({ functionName: 'setJobPriority', invocationId: 'test' });

/** The PATCH function's body, over in-memory stores. */
function patchHandler(deps: { jobs: JobStore; schedule: InMemoryScheduleViews }) {
  return httpHandler(async (request) =>
    jsonResponse(200, await setJobPriority(deps, request.params['jobId'], await request.json())),
  );
}

const patch = (jobId: string, body: unknown) =>
  new HttpRequest({
    method: 'PATCH',
    url: `http://127.0.0.1/api/jobs/${jobId}`,
    params: { jobId },
    body: { string: JSON.stringify(body) },
  });

async function runningJob(status: Job['status'] = 'in_progress') {
  const jobs = new InMemoryJobStore();
  const job: Job = { ...sampleJob(), status };
  await jobs.createJob(job);
  return { jobs, job, schedule: new InMemoryScheduleViews() };
}

describe('PATCH /api/jobs/{id}: changing the priority while the job runs', () => {
  it('sets the level, or a weight, and answers the job with it', async () => {
    const deps = await runningJob();
    const handler = patchHandler(deps);
    const high = await handler(patch(deps.job.id, { priority: 'HIGH' }), context());
    expect(high.status).toBe(200);
    expect(high.jsonBody).toMatchObject({ id: deps.job.id, priority: 'high' });
    expect((await deps.jobs.getJob(deps.job.id))!.job.priority).toEqual(HIGH);
    const weight = await handler(patch(deps.job.id, { priority: 50 }), context());
    expect(weight.jsonBody).toMatchObject({ priority: 50 });
  });

  it.each([{ priority: 'urgent' }, { priority: 0 }, { priority: true }, {}, ['high']])(
    '%j is a 400 naming priority, and nothing changes',
    async (body) => {
      const deps = await runningJob();
      const answer = await patchHandler(deps)(patch(deps.job.id, body), context());
      expect(answer.status).toBe(400);
      expect(answer.jsonBody).toMatchObject({ error: { code: 'bad_request', param: 'priority' } });
      expect((await deps.jobs.getJob(deps.job.id))!.job.priority).toBeUndefined();
    },
  );

  it('the scheduler takes the new weight at once: the job’s next pick is made with it', async () => {
    const deps = await runningJob();
    const fairShare = new InMemoryFairShareStore();
    await registerWork(fairShare, deps.job, { ingest: { messages: 10, tokens: 1_000 } });
    expect((await fairShare.read(deps.job.deployment)).jobs[deps.job.id]!.weight).toBe(4);
    await setJobPriority({ ...deps, fairShare }, deps.job.id, { priority: 'high' });
    expect((await fairShare.read(deps.job.deployment)).jobs[deps.job.id]!.weight).toBe(32);
  });

  it('an unknown job is a 404', async () => {
    const deps = await runningJob();
    const answer = await patchHandler(deps)(patch(`job_${'0'.repeat(32)}`, { priority: 'low' }), context());
    expect(answer.status).toBe(404);
  });

  it.each(['completed', 'failed', 'cancelled', 'expired', 'cancelling', 'finalizing'] as const)(
    'a %s job is a 409',
    async (status) => {
      const deps = await runningJob(status);
      const answer = await patchHandler(deps)(patch(deps.job.id, { priority: 'low' }), context());
      expect(answer.status).toBe(409);
      expect((answer.jsonBody as { error: { message: string } }).error.message).toContain(status);
    },
  );

  it('a concurrent write (a worker’s counters) is read again and kept, the priority applied over it', async () => {
    const { jobs, job } = await runningJob();
    let interleaved = 0;
    const racing = racingStore(jobs, async () => {
      if (interleaved >= 2) return;
      interleaved += 1;
      await jobs.addToJobCounters(job.id, ONE_SUCCESS, 5_000);
    });
    const changed = await changePriority({ jobs: racing }, job.id, HIGH);
    expect(interleaved).toBe(2);
    expect(changed).toMatchObject({ priority: HIGH, counts: { succeeded: 2 } });
    expect((await jobs.getJob(job.id))!.job).toMatchObject({ priority: HIGH, counts: { succeeded: 2 } });
  });

  it('a job that finishes while the change is tried is a 409, not a finished job with a new priority', async () => {
    const { jobs, job } = await runningJob();
    const racing = racingStore(jobs, async () => {
      const current = (await jobs.getJob(job.id))!;
      await jobs.replaceJob({ ...current.job, status: 'completed' }, current.etag);
    });
    await expect(changePriority({ jobs: racing }, job.id, HIGH)).rejects.toMatchObject({ name: 'ConflictError' });
    const after = (await jobs.getJob(job.id))!.job;
    expect([after.status, after.priority]).toEqual(['completed', undefined]);
  });

  it('a job that never stops changing is a 409 after bounded tries', async () => {
    const { jobs, job } = await runningJob();
    const racing = racingStore(jobs, () => jobs.addToJobCounters(job.id, ONE_SUCCESS, 5_000));
    await expect(changePriority({ jobs: racing }, job.id, HIGH)).rejects.toMatchObject({
      name: 'ConflictError',
      message: expect.stringMatching(/kept changing while its priority was set to high/),
    });
  });
});

/** The store, with `between` run after each read and before the replace that follows it. */
function racingStore(jobs: InMemoryJobStore, between: () => Promise<unknown>): JobStore {
  return new Proxy(jobs, {
    get(target, property, receiver) {
      if (property === 'replaceJob') {
        return async (job: Job, etag: string): Promise<StoredJob | undefined> => {
          await between();
          return target.replaceJob(job, etag);
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('the job view: priority, share and eta', () => {
  it('a job without a priority shows normal; a running job its share (rounded) and eta from the schedule', async () => {
    const { jobs, job, schedule } = await runningJob();
    expect(await getJobStatus({ jobs, schedule }, job.id)).toMatchObject({
      priority: 'normal',
      share: null,
      eta: null,
    });
    schedule.set(job.deployment, job.id, { share: 0.123456, etaAtInMs: Date.UTC(2026, 0, 2, 3, 4, 5) });
    expect(await getJobStatus({ jobs, schedule }, job.id)).toMatchObject({
      share: 0.123,
      eta: '2026-01-02T03:04:05.000Z',
    });
    schedule.set(job.deployment, job.id, { share: 1, etaAtInMs: undefined });
    expect(await getJobStatus({ jobs, schedule }, job.id)).toMatchObject({ share: 1, eta: null });
  });

  it('a job that is not running shows no share or eta, whatever the schedule still says', async () => {
    const { jobs, job, schedule } = await runningJob('completed');
    schedule.set(job.deployment, job.id, { share: 0.5, etaAtInMs: 0 });
    expect(await getJobStatus({ jobs, schedule }, job.id)).toMatchObject({ share: null, eta: null });
  });

  it('the list shows each job’s own figures, weight priorities as numbers', async () => {
    const jobs = new InMemoryJobStore();
    const schedule = new InMemoryScheduleViews();
    const a: Job = { ...sampleJob(undefined, 1_000), status: 'in_progress', deployment: 'd1', priority: HIGH };
    const b: Job = {
      ...sampleJob(undefined, 2_000),
      status: 'in_progress',
      deployment: 'd2',
      priority: { level: undefined, weight: 7 },
    };
    await jobs.createJob(a);
    await jobs.createJob(b);
    schedule.set('d1', a.id, { share: 0.8, etaAtInMs: undefined });
    schedule.set('d2', b.id, { share: 0.25, etaAtInMs: undefined });
    const page = await listJobs({ jobs, schedule }, { limit: null, after: null, maxPageSize: 100 });
    expect(page.data.map((j) => [j.id, j.priority, j.share])).toEqual([
      [b.id, 7, 0.25],
      [a.id, 'high', 0.8],
    ]);
  });

  it('the OpenAI batch object keeps its shape: no priority, share or eta of its own', () => {
    const batch = toOpenAIBatch({ ...sampleJob(), priority: HIGH });
    expect(Object.keys(batch)).not.toEqual(expect.arrayContaining(['priority']));
    expect(batch).not.toHaveProperty('share');
    expect(batch).not.toHaveProperty('eta');
  });
});
