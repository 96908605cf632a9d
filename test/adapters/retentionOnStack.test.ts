import { BlobServiceClient } from '@azure/storage-blob';
import type { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CosmosJobStore } from '../../src/adapters/cosmos/CosmosJobStore.js';
import { createCosmosClient, ensureCosmosContainers } from '../../src/adapters/cosmos/createCosmosClient.js';
import { InMemoryBlobStore } from '../../src/adapters/memory/InMemoryBlobStore.js';
import { InMemoryJobStore } from '../../src/adapters/memory/InMemoryJobStore.js';
import { AzureBlobStore } from '../../src/adapters/storage/AzureBlobStore.js';
import type { BlobStore, JobStore } from '../../src/app/ports.js';
import { newJob, type Job, type JobData } from '../../src/core/job.js';
import { startLocalStack, type LocalStack } from '../../dev/local/stack/index.js';
import { cosmosConfigOn } from '../support/cosmosOnStack.js';
import { uniqueName } from '../support/uniqueName.js';

let stack: LocalStack;
let cosmos: CosmosClient;
let cosmosJobs: CosmosJobStore;
let azureBlobs: AzureBlobStore;

beforeAll(async () => {
  stack = await startLocalStack();
  const config = cosmosConfigOn(stack, 'retention');
  cosmos = createCosmosClient(config);
  const containers = await ensureCosmosContainers(cosmos, config);
  cosmosJobs = new CosmosJobStore(containers.jobs, containers.lines);
  azureBlobs = new AzureBlobStore(BlobServiceClient.fromConnectionString(stack.settings['AzureWebJobsStorage']!));
}, 120_000);

afterAll(async () => {
  cosmos?.dispose();
  await stack?.close();
});

const job = (id: string, fields: Partial<Job>): Job => ({
  ...newJob({
    id,
    createdAtInMs: 0,
    input: { container: 'in', name: 'x.jsonl', etag: '"1"', size: 1 },
    model: 'm',
    deployment: 'd',
  }),
  status: 'completed',
  ...fields,
});

async function listed(jobs: JobStore, beforeInMs: number, data: JobData): Promise<string[]> {
  const ids = [];
  for await (const found of jobs.listFinishedBefore(beforeInMs, data)) ids.push(found.id);
  return ids.sort();
}

describe.each([
  ['Cosmos stand-in', () => cosmosJobs],
  ['in memory', () => new InMemoryJobStore()],
])('JobStore.listFinishedBefore (%s)', (_name, store) => {
  it('lists jobs finished before the time whose data is still there', async () => {
    const jobs = store();
    const prefix = `job_${uniqueName('r').replace(/[^a-z0-9]/g, '')}`;
    await jobs.createJob(job(`${prefix}old`, { finishedAtInMs: 1_000 }));
    await jobs.createJob(job(`${prefix}oldfilesgone`, { finishedAtInMs: 1_000, removed: { filesAtInMs: 5 } }));
    await jobs.createJob(
      job(`${prefix}allgone`, { finishedAtInMs: 1_000, removed: { outcomesAtInMs: 5, filesAtInMs: 5 } }),
    );
    await jobs.createJob(job(`${prefix}recent`, { finishedAtInMs: 9_000 }));
    await jobs.createJob(job(`${prefix}running`, { status: 'in_progress' }));
    const mine = (ids: string[]) => ids.filter((id) => id.startsWith(prefix)).map((id) => id.slice(prefix.length));
    expect(mine(await listed(jobs, 5_000, 'outcomes'))).toEqual(['old', 'oldfilesgone']);
    expect(mine(await listed(jobs, 5_000, 'files'))).toEqual(['old']);
    expect(mine(await listed(jobs, 10_000, 'files'))).toEqual(['old', 'recent']);
  });
});

describe.each([
  ['Azurite', (): BlobStore => azureBlobs],
  ['in memory', (): BlobStore => new InMemoryBlobStore()],
])('BlobStore.deletePrefix (%s)', (_name, store) => {
  it('deletes the blobs under the prefix, committed and staged, and nothing else', async () => {
    const blobs = store();
    const container = uniqueName('out');
    await blobs.ensureContainer(container);
    await blobs.upload(container, 'job_a/results.jsonl', 'r', { contentType: 'application/jsonl' });
    await blobs.upload(container, 'job_a/.ingest/custom-ids-1.bin', 'i', { contentType: 'application/octet-stream' });
    await blobs.stageBlock(container, 'job_a/errors.jsonl', 'YmxvY2s=', 'staged');
    await blobs.upload(container, 'job_ab/results.jsonl', 'keep', { contentType: 'application/jsonl' });
    await blobs.deletePrefix(container, 'job_a/');
    expect(await blobs.download(container, 'job_a/results.jsonl')).toBeUndefined();
    expect(await blobs.download(container, 'job_a/.ingest/custom-ids-1.bin')).toBeUndefined();
    expect((await blobs.listBlocks(container, 'job_a/errors.jsonl')).uncommitted).toEqual([]);
    expect((await blobs.download(container, 'job_ab/results.jsonl'))?.toString()).toBe('keep');
    expect(await blobs.deletePrefix(container, 'job_a/')).toBe(0);
  });
});
