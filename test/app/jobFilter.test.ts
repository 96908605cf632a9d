import { describe, expect, it } from 'vitest';
import { InMemoryScheduleViews } from '../../src/adapters/memory/InMemoryScheduleViews.js';
import { InMemoryJobStore } from '../../src/adapters/memory/InMemoryJobStore.js';
import { parseJobFilter } from '../../src/app/jobFilter.js';
import { listJobs } from '../../src/app/jobQueries.js';
import { listBatches } from '../../src/app/openai/batches.js';
import { BadRequestError } from '../../src/core/errors.js';
import { newJob, type Job } from '../../src/core/job.js';

async function store(): Promise<InMemoryJobStore> {
  const jobs = new InMemoryJobStore();
  const statuses: Job['status'][] = ['completed', 'in_progress', 'completed', 'failed', 'in_progress', 'completed'];
  for (const [i, status] of statuses.entries()) {
    const job = newJob({
      id: `job_${String(i).padStart(32, '0')}`,
      createdAtInMs: 1000 + i,
      input: { container: 'c', name: `${i}.jsonl`, etag: 'e', size: 1 },
      model: 'm',
      deployment: 'd',
    });
    const metadata = { team: i % 2 === 0 ? 'a' : 'b' };
    await jobs.createJob({ ...job, status, batchRequest: { completionWindow: '24h', expiresAtInMs: 0, metadata } });
  }
  return jobs;
}

describe('job lists filtered by status and metadata', () => {
  it('the jobs API pages through the store and returns only matching jobs', async () => {
    const jobs = await store();
    const filter = parseJobFilter(new URLSearchParams('status=completed'));
    const first = await listJobs(
      { jobs, schedule: new InMemoryScheduleViews() },
      { limit: '2', after: null, maxPageSize: 100, filter },
    );
    expect(first.data.map((j) => j.id.slice(-1))).toEqual(['5']);
    const rest: string[] = [];
    let after = first.next_page;
    while (after !== null) {
      const page = await listJobs(
        { jobs, schedule: new InMemoryScheduleViews() },
        { limit: '2', after, maxPageSize: 100, filter },
      );
      rest.push(...page.data.map((j) => j.id.slice(-1)));
      after = page.next_page;
    }
    expect(rest).toEqual(['2', '0']);
  });

  it("the batches API filters by status and metadata[key], with the SDK's after cursor", async () => {
    const jobs = await store();
    const filter = parseJobFilter(new URLSearchParams('status=completed&metadata[team]=a'));
    const page = await listBatches(jobs, { limit: '1', after: null, filter });
    expect(page.has_more).toBe(true);
    expect(page.data.map((b) => b.id.slice(-1))).toEqual(['2']);
    const next = await listBatches(jobs, { limit: '5', after: page.last_id, filter });
    expect(next.data.map((b) => b.id.slice(-1))).toEqual(['0']);
    expect(next.has_more).toBe(false);
  });

  it('refuses a status that does not exist', () => {
    expect(() => parseJobFilter(new URLSearchParams('status=running'))).toThrow(BadRequestError);
  });
});
