import { describe, expect, it } from 'vitest';
import { getCostReport } from '../../src/app/costReports.js';
import { runIngestMessage, ingestBlob } from '../../src/app/ingestBlob.js';
import { createBatch, type BatchesDeps } from '../../src/app/openai/batches.js';
import type { FileStore, StoredFile } from '../../src/app/openai/ports.js';
import { parseControlMessage } from '../../src/core/controlMessage.js';
import { BadRequestError } from '../../src/core/errors.js';
import { COMPLETION_WINDOW_LIMITS } from '../../src/core/openai/completionWindow.js';
import { runQueues, type World } from './finishedJob.js';
import { chatLine, createWorld, okResponse, ScriptedChatClient } from './fixtures.js';

const FILE_ID = 'file-ffffffffffffffffffffffffffffffff';
const FILE = Array.from({ length: 5 }, (_, i) => chatLine(`id-${i}`, `prompt ${i}`)).join('\n');

function world(): World {
  return createWorld(new ScriptedChatClient((body) => okResponse(body)));
}

async function dropped(w: World, name: string, metadata: Record<string, string>): Promise<string> {
  w.blobs.put('batch-input', name, FILE, metadata);
  const ingested = await ingestBlob('batch-input', name, w.ingestDeps);
  if (ingested.kind !== 'ingested') throw new Error(`not ingested: ${ingested.kind}`);
  await runQueues(w);
  return ingested.jobId;
}

async function ledgerOf(w: World, jobId: string) {
  const entries = [];
  for await (const entry of w.ledger.listEntries(jobId)) entries.push(entry);
  return entries;
}

const report = (w: World, groupBy: string[], filter?: Record<string, string>) =>
  getCostReport(
    w.rollups,
    { from: '2026-11-01', to: '2026-11-30', groupBy: groupBy as never, format: 'json', filter },
    { defaultCurrency: 'USD' },
  );

/** A file store of one uploaded file, copied into the world's blobs as the real one copies server side. */
function oneFileStore(w: World): FileStore {
  const file: StoredFile = {
    id: FILE_ID,
    bytes: FILE.length,
    createdAtInMs: 0,
    filename: 'in.jsonl',
    purpose: 'batch',
  };
  return {
    upload: () => Promise.reject(new Error('unused')),
    get: async (id) => (id === file.id ? file : undefined),
    list: async function* () {},
    openRead: async () => undefined,
    delete: async () => false,
    copyTo: async (_id, target, metadata) => {
      const etag = w.blobs.put(target.container, target.name, FILE, metadata);
      return { etag, size: FILE.length };
    },
  };
}

describe('tags', () => {
  it('flow from a dropped blob’s tag_ metadata onto the job, every ledger entry and rollup, and into reports', async () => {
    const w = world();
    const tagged = await dropped(w, 'a.jsonl', { tag_Project: 'apollo', tag_team: 'search', maxcost: '5' });
    const other = await dropped(w, 'b.jsonl', { tag_project: 'hermes' });
    const untagged = await dropped(w, 'c.jsonl', {});

    expect((await w.jobs.getJob(tagged))!.job.tags).toEqual({ project: 'apollo', team: 'search' });
    expect((await w.jobs.getJob(untagged))!.job.tags).toBeUndefined();
    const entries = await ledgerOf(w, tagged);
    expect(entries).toHaveLength(5);
    for (const entry of entries) expect(entry.tags).toEqual({ project: 'apollo', team: 'search' });
    for (const { rollup } of await w.rollups.listJob(tagged))
      expect(rollup.tags).toEqual({ project: 'apollo', team: 'search' });

    const byProject = await report(w, ['tag:project']);
    const costOf = async (jobId: string) => (await ledgerOf(w, jobId)).reduce((sum, e) => sum + e.costInNanos, 0);
    expect(byProject.rows.map((r) => [r['tag:project'], r.cost_nanos, r.calls])).toEqual([
      ['', await costOf(untagged), 5],
      ['apollo', await costOf(tagged), 5],
      ['hermes', await costOf(other), 5],
    ]);
    const filtered = await report(w, ['job'], { project: 'apollo' });
    expect(filtered.rows.map((r) => r.job)).toEqual([tagged]);
    expect(filtered.total.cost_nanos).toBe(await costOf(tagged));
  });

  it('fail a dropped file at once, with nothing sent, when its tag_ metadata is not valid tags', async () => {
    const w = world();
    const jobId = await dropped(w, 'bad.jsonl', { tag_project: 'a,b' });
    const { job } = (await w.jobs.getJob(jobId))!;
    expect(job.status).toBe('failed');
    expect(job.jobError).toMatchObject({ code: 'invalid_tags', param: 'tags' });
    expect(job.jobError?.message).toContain('without commas');
    expect(await ledgerOf(w, jobId)).toEqual([]);
  });

  it('flow from a batch’s metadata (the Batches API) into the ledger; metadata that cannot be tags is refused', async () => {
    const w = world();
    const deps: BatchesDeps = {
      jobs: w.jobs,
      files: oneFileStore(w),
      controlQueue: w.controlQueue,
      deployments: w.ingestDeps.deployments,
      clock: w.clock,
      newHex32: () => '0123456789abcdef0123456789abcdef',
      outputContainer: 'batch-output',
      windowLimits: COMPLETION_WINDOW_LIMITS,
      defaultMaxCostInNanos: undefined,
    };
    const request = { input_file_id: FILE_ID, endpoint: '/v1/chat/completions', completion_window: '24h' };
    await expect(createBatch(deps, { ...request, metadata: { 'cost center': 'x' } })).rejects.toThrow(BadRequestError);
    const batch = await createBatch(deps, { ...request, metadata: { project: 'zeus', pipeline: 'nightly' } });
    expect(batch.metadata).toEqual({ project: 'zeus', pipeline: 'nightly' });
    for (const payload of w.controlQueue.drain()) {
      const message = parseControlMessage(payload);
      if (typeof message !== 'string' && message.kind === 'ingest') await runIngestMessage(message, w.ingestDeps);
    }
    await runQueues(w);
    const { job } = (await w.jobs.getJob(batch.id))!;
    expect(job).toMatchObject({ status: 'completed', tags: { project: 'zeus', pipeline: 'nightly' } });
    for (const entry of await ledgerOf(w, batch.id)) expect(entry.tags).toEqual(job.tags);
    expect((await report(w, ['tag:pipeline'])).rows.map((r) => r['tag:pipeline'])).toEqual(['nightly']);
  });
});
