import { describe, expect, it } from 'vitest';
import { requestMessageOf } from '../support/requestMessageOf.js';
import { ingestBlob } from '../../src/app/ingestBlob.js';
import { processRequestMessage } from '../../src/app/processRequestMessage.js';
import { toBatchObject } from '../../src/core/batchObject.js';
import { newJob } from '../../src/core/job.js';
import { chatLine, createWorld, okResponse, ScriptedChatClient } from './fixtures.js';
import { runQueues } from './finishedJob.js';

describe('the job as the API shows it', () => {
  it('a finished job shows no waiting, whatever deferral its last re-queued lines left', () => {
    const base = newJob({
      id: `job_${'a'.repeat(32)}`,
      createdAtInMs: 0,
      input: { container: 'c', name: 'n.jsonl', etag: '"1"', size: 1 },
      model: 'm',
      deployment: 'd',
    });
    const deferral = { untilInMs: 3_600_000, reason: 'the endpoint asked to retry after 3600 s' };
    expect(toBatchObject({ ...base, status: 'in_progress', deferral }).waiting).toEqual({
      until: 3600,
      reason: deferral.reason,
    });
    for (const status of ['completed', 'failed', 'cancelled'] as const)
      expect(toBatchObject({ ...base, status, deferral }).waiting).toBeNull();
  });

  it('cost_so_far counts unconfirmed calls while the job runs, not only once it is final', async () => {
    const chat = new ScriptedChatClient((body) =>
      String(body.messages[0]?.content) === 'lost' ? { kind: 'timeout', latencyInMs: 1 } : okResponse(body),
    );
    const world = createWorld(chat);
    world.blobs.put('batch-input', 'in.jsonl', [chatLine('a', 'fine'), chatLine('b', 'lost')].join('\n'));
    const ingested = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    const jobId = ingested.kind === 'ingested' ? ingested.jobId : '';
    const view = async () => toBatchObject((await world.jobs.getJob(jobId))!.job).cost_so_far;

    expect(await view()).toMatchObject({ calls: 0, unconfirmed_calls: 0 });
    for (const p of world.requestQueue.drain()) await processRequestMessage(requestMessageOf(p), world.workerDeps);
    // Running: the timed-out line is re-queued or failed, its three calls are unconfirmed; not yet finalised.
    const running = (await world.jobs.getJob(jobId))!.job;
    expect(running.status).toBe('in_progress');
    expect(await view()).toMatchObject({ calls: 4, unconfirmed_calls: 3 });
    await runQueues(world);
    expect(await view()).toMatchObject({ calls: 4, unconfirmed_calls: 3 });
  });
});
