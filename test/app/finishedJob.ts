import { expect } from 'vitest';
import { requestMessageOf } from '../support/requestMessageOf.js';
import { parseControlMessage } from '../../src/core/controlMessage.js';
import { finalizeJob } from '../../src/app/finalizeJob.js';
import { ingestBlob } from '../../src/app/ingestBlob.js';
import { processRequestMessage } from '../../src/app/processRequestMessage.js';
import { chatLine, createWorld, okResponse, ScriptedChatClient } from './fixtures.js';

export type World = ReturnType<typeof createWorld>;

/** Runs every queued work message, then every queued finalisation. */
export async function runQueues(world: World): Promise<void> {
  for (const p of world.requestQueue.drain()) await processRequestMessage(requestMessageOf(p), world.workerDeps);
  for (const payload of world.controlQueue.drain()) {
    const message = parseControlMessage(payload);
    if (typeof message !== 'string' && message.kind === 'finalize')
      await finalizeJob(message.jobId, world.finalizeDeps);
  }
}

/** A finished job of four lines, the last three failed with timeouts (retryable). */
export async function finishedJobWithFailures(): Promise<{ world: World; jobId: string }> {
  const chat = new ScriptedChatClient((body) =>
    String(body.messages[0]?.content) === 'prompt 1' ? okResponse(body) : { kind: 'timeout', latencyInMs: 1 },
  );
  const world = createWorld(chat);
  world.blobs.put(
    'batch-input',
    'in.jsonl',
    Array.from({ length: 4 }, (_, i) => chatLine(`id-${i + 1}`, `prompt ${i + 1}`)).join('\n'),
  );
  const ingested = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
  const jobId = ingested.kind === 'ingested' ? ingested.jobId : '';
  await runQueues(world);
  expect((await world.jobs.getJob(jobId))!.job).toMatchObject({
    status: 'completed',
    counts: { succeeded: 1, failed: 3 },
  });
  return { world, jobId };
}
