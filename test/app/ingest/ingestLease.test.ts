import { describe, expect, it } from 'vitest';
import { BlobChangedError, type BlobStore } from '../../../src/app/ports.js';
import { createLeasedJob, takeIngestLease } from '../../../src/app/ingest/ingestLease.js';
import { JOB_ID_METADATA, pinBlobToJob } from '../../../src/app/ingest/pinBlobToJob.js';
import { newJob, type Job } from '../../../src/core/job.js';
import { ingestBlob } from '../../../src/app/ingestBlob.js';
import { createWorld } from '../fixtures.js';

type World = ReturnType<typeof createWorld>;
const JOB_ID = `job_${'b'.repeat(32)}`;

/** The world's blob store, with `setMetadata` failing as `fail` says for each call (by its number). */
function failingMetadataWrites(world: World, fail: (call: number) => Error | undefined): BlobStore {
  let calls = 0;
  const write = world.blobs.setMetadata.bind(world.blobs);
  world.blobs.setMetadata = async (container, name, metadata, options) => {
    const error = fail((calls += 1));
    if (error !== undefined) throw error;
    return write(container, name, metadata, options);
  };
  return world.blobs;
}

describe('pinning a blob to its job', () => {
  it('labels the blob with its job id and pins the version the label made', async () => {
    const world = createWorld();
    world.blobs.put('batch-input', 'in.jsonl', '{}\n');
    const pinned = await pinBlobToJob('batch-input', 'in.jsonl', world);
    const properties = await world.blobs.getProperties('batch-input', 'in.jsonl');
    expect(properties?.metadata[JOB_ID_METADATA]).toBe(pinned?.jobId);
    expect(pinned?.etag).toBe(properties?.etag);
    expect(await pinBlobToJob('batch-input', 'in.jsonl', world)).toMatchObject(pinned!);
  });

  it('looks again when the blob changed between its read and the label, and gives up on other failures', async () => {
    const world = createWorld();
    world.blobs.put('batch-input', 'in.jsonl', '{}\n');
    const changed = new BlobChangedError('batch-input', 'in.jsonl');
    const changedOnce = failingMetadataWrites(world, (call) => (call === 1 ? changed : undefined));
    expect((await pinBlobToJob('batch-input', 'in.jsonl', { blobs: changedOnce, jobs: world.jobs }))?.jobId).toMatch(
      /^job_/,
    );

    const other = createWorld();
    other.blobs.put('batch-input', 'other.jsonl', '{}\n');
    const broken = failingMetadataWrites(other, () => new Error('storage is down'));
    await expect(pinBlobToJob('batch-input', 'other.jsonl', { blobs: broken, jobs: other.jobs })).rejects.toThrow(
      'storage is down',
    );
  });

  it('says undefined for a blob that is gone', async () => {
    expect(await pinBlobToJob('batch-input', 'gone.jsonl', createWorld())).toBeUndefined();
  });
});

describe('the ingest lease', () => {
  function storedJob(world: World, overrides: Partial<Job> = {}): Job {
    const job = newJob({
      id: JOB_ID,
      createdAtInMs: world.clock.nowInMs(),
      input: { container: 'batch-input', name: 'in.jsonl', etag: '"0x1"', size: 3 },
      model: 'Phi-3-mini-4k-instruct',
      deployment: 'test',
    });
    return { ...job, ...overrides };
  }

  it('creates a new job with the lease already taken, once', async () => {
    const world = createWorld();
    const blob = { jobId: JOB_ID, etag: '"0x1"', size: 3, metadata: {}, container: 'batch-input', name: 'in.jsonl' };
    const first = await createLeasedJob(blob, 'me', world.ingestDeps, {});
    expect(first).toMatchObject({ owner: 'me', firstReader: true });
    expect((await world.jobs.getJob(JOB_ID))?.job.ingestLease?.owner).toBe('me');
    expect(await createLeasedJob(blob, 'you', world.ingestDeps, {})).toBeUndefined();
  });

  it("backs off while another reader's lease is live, and takes it over once it has lapsed", async () => {
    const world = createWorld();
    const ingestLease = { owner: 'other', untilInMs: world.clock.nowInMs() + 1000 };
    await world.jobs.createJob(storedJob(world, { ingestLease }));
    expect(await takeIngestLease(JOB_ID, 'me', world)).toEqual({ kind: 'busy' });
    world.clock.now += 1001;
    const taken = await takeIngestLease(JOB_ID, 'me', world);
    // The lapsed reader may have sent part of the chunk: what this one sends may be a repeat.
    expect(taken).toMatchObject({ owner: 'me', firstReader: false });
    expect((await world.jobs.getJob(JOB_ID))?.job.ingestLease?.owner).toBe('me');
  });

  it('is a first reader only where nobody read the chunk before, and never reads a file that is read', async () => {
    const world = createWorld();
    await world.jobs.createJob(storedJob(world));
    expect(await takeIngestLease(JOB_ID, 'me', world)).toMatchObject({ firstReader: true });

    const done = createWorld();
    const job = storedJob(done);
    await done.jobs.createJob({ ...job, ingest: { ...job.ingest, done: true } });
    expect(await takeIngestLease(JOB_ID, 'me', done)).toEqual({ kind: 'already-ingested' });
  });
});

describe('copies and uploads that carry a job label', () => {
  const lines = [
    '{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"messages":[{"role":"user","content":"hi"}]}}',
  ];

  it('a copy of an ingested blob (its label copied along) becomes a job of its own', async () => {
    const world = createWorld();
    world.blobs.put('batch-input', 'original.jsonl', lines.join('\n'));
    const original = await ingestBlob('batch-input', 'original.jsonl', world.ingestDeps);
    expect(original.kind).toBe('ingested');
    const labelled = await world.blobs.getProperties('batch-input', 'original.jsonl');
    // What az storage blob copy, azcopy and beginCopyFromURL do: content and metadata, label included.
    world.blobs.put('batch-input', 'copy.jsonl', lines.join('\n'), { ...labelled!.metadata });

    const copy = await ingestBlob('batch-input', 'copy.jsonl', world.ingestDeps);
    expect(copy.kind).toBe('ingested');
    if (copy.kind !== 'ingested' || original.kind !== 'ingested') return;
    expect(copy.jobId).not.toBe(original.jobId);
    expect((await world.jobs.getJob(copy.jobId))?.job.input.name).toBe('copy.jsonl');
    expect((await world.blobs.getProperties('batch-input', 'copy.jsonl'))?.metadata[JOB_ID_METADATA]).toBe(copy.jobId);
    // The original still maps to its own job, read once.
    expect(await ingestBlob('batch-input', 'original.jsonl', world.ingestDeps)).toEqual({
      kind: 'already-ingested',
      jobId: original.jobId,
    });
  });

  it('a new upload over the same name whose metadata names the existing job is a new job too', async () => {
    const world = createWorld();
    world.blobs.put('batch-input', 'in.jsonl', lines.join('\n'));
    const first = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    if (first.kind !== 'ingested') throw new Error('not ingested');
    world.blobs.put('batch-input', 'in.jsonl', [...lines, lines[0]!.replace('"a"', '"b"')].join('\n'), {
      [JOB_ID_METADATA]: first.jobId,
    });
    const second = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    expect(second).toMatchObject({ kind: 'ingested', requests: 2 });
    if (second.kind === 'ingested') expect(second.jobId).not.toBe(first.jobId);
  });
});
