import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { localModeOnFreePorts, spawnLocalMode, type RunningLocalMode } from '../../dev/local/localModeProcess.js';
import { startPhi3Simulator, type Phi3Simulator } from '../../dev/simulator/index.js';
import { createPipeline, type Pipeline } from '../../scripts/bench/benchSupport.js';
import { startGatedEndpoint, type GatedEndpoint } from '../support/gatedEndpoint.js';
import { waitFor } from '../support/waitFor.js';

const loader = fileURLToPath(new URL('../support/tsLoader/register.mjs', import.meta.url));

function batchFile(prefix: string, lines: number): string {
  const body = (i: number): unknown => ({
    messages: [{ role: 'user', content: `${prefix} question ${i}: name a colour.` }],
    max_tokens: 20,
  });
  return `${Array.from({ length: lines }, (_, i) => JSON.stringify({ custom_id: `${prefix}-${i}`, method: 'POST', url: '/v1/chat/completions', body: body(i) })).join('\n')}\n`;
}

async function outputFile(settings: Readonly<Record<string, string>>, name: string): Promise<string | undefined> {
  const blob = BlobServiceClient.fromConnectionString(settings['AzureWebJobsStorage']!)
    .getContainerClient('batch-output')
    .getBlobClient(name);
  return (await blob.exists()) ? (await blob.downloadToBuffer()).toString('utf8') : undefined;
}

async function outcomeCounts(pipeline: Pipeline, jobId: string): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  for await (const outcome of pipeline.jobs.listOutcomes(jobId))
    counts.set(outcome.line, (counts.get(outcome.line) ?? 0) + 1);
  return counts;
}

async function finished(pipeline: Pipeline, jobId: string): Promise<true | undefined> {
  const stored = await pipeline.jobs.getJob(jobId);
  return stored?.job.status === 'completed' ? true : undefined;
}

describe('npm start keeps its data across a SIGKILL of the whole process group', () => {
  let simulator: Phi3Simulator;
  let gate: GatedEndpoint;
  let dataDirectory: string;
  const running: RunningLocalMode[] = [];
  const pipelines: Pipeline[] = [];

  beforeAll(async () => {
    simulator = await startPhi3Simulator({ latency: { baseInMs: 5, perCompletionTokenInMs: 0, jitterInMs: 0 } });
    gate = await startGatedEndpoint(simulator.url);
    dataDirectory = await mkdtemp(join(tmpdir(), 'local-mode-'));
  });

  afterAll(async () => {
    for (const pipeline of pipelines) pipeline.close();
    await Promise.all(running.map((local) => local.killGroup()));
    await gate?.close();
    await simulator?.close();
    if (dataDirectory !== undefined) await rm(dataDirectory, { recursive: true, force: true });
  });

  const phi3 = (): Record<string, string> => ({
    PHI3_ENDPOINT: gate.url,
    PHI3_API_KEY: simulator.apiKey,
    PHI3_MODEL: simulator.model,
  });

  async function start(): Promise<{ local: RunningLocalMode; pipeline: Pipeline }> {
    const local = await spawnLocalMode({
      nodeArgs: ['--import', loader],
      env: {
        ...phi3(),
        ...localModeOnFreePorts(dataDirectory),
        // A killed run's messages come back after this, as a crashed host's do after ~10 minutes in Azure.
        LOCAL_HOST_QUEUE_LEASE_MS: '3000',
        QUEUE_MESSAGE_MAX_REQUESTS: '4',
      },
    });
    running.push(local);
    const pipeline = await createPipeline({ settings: local.settings }, phi3());
    pipelines.push(pipeline);
    return { local, pipeline };
  }

  test(
    'job A stays as it was; job B, killed midway, completes with every line exactly once',
    { timeout: 300_000 },
    async () => {
      const first = await start();
      const jobA = await first.pipeline.submit('job-a.jsonl', batchFile('a', 12));
      await waitFor(() => finished(first.pipeline, jobA), {
        timeoutInMs: 120_000,
        intervalInMs: 100,
        description: 'job A to complete',
      });
      const jobABefore = (await first.pipeline.jobs.getJob(jobA))!.job;
      const resultsABefore = await outputFile(first.local.settings, `${jobA}/results.jsonl`);
      expect(resultsABefore?.trim().split('\n')).toHaveLength(12);

      // Job B: a few calls are answered, the rest are held without a reply; then everything is killed.
      gate.holdAfter(6);
      const jobB = await first.pipeline.submit('job-b.jsonl', batchFile('b', 40));
      await waitFor(
        async () =>
          gate.answered() >= 6 && gate.held() > 0 && (await first.pipeline.jobs.getJob(jobB))?.job.ingest.done === true,
        { timeoutInMs: 120_000, intervalInMs: 50, description: 'job B under way with calls held' },
      );
      expect((await first.pipeline.jobs.getJob(jobB))?.job.counts.succeeded).toBeLessThan(40);
      first.pipeline.close();
      const exit = await first.local.killGroup();
      expect(exit.signal).toBe('SIGKILL');
      gate.release();

      const second = await start();
      await waitFor(() => finished(second.pipeline, jobB), {
        timeoutInMs: 180_000,
        intervalInMs: 200,
        description: 'job B to complete after the restart',
      });

      // Job A: as it was, its output file byte for byte.
      const jobAAfter = (await second.pipeline.jobs.getJob(jobA))!.job;
      expect(jobAAfter).toEqual(jobABefore);
      expect(await outputFile(second.local.settings, `${jobA}/results.jsonl`)).toBe(resultsABefore);
      expect([...(await outcomeCounts(second.pipeline, jobA)).values()]).toEqual(Array.from({ length: 12 }, () => 1));
      const apiJobA = (await (await fetch(`${second.local.apiUrl}/jobs/${jobA}`)).json()) as {
        status: string;
        request_counts: unknown;
      };
      expect(apiJobA).toMatchObject({ status: 'completed', request_counts: { total: 12, completed: 12, failed: 0 } });

      // Job B: one outcome per line, every line in the output file once.
      const jobBAfter = (await second.pipeline.jobs.getJob(jobB))!.job;
      expect(jobBAfter.counts).toEqual({ succeeded: 40, failed: 0 });
      const outcomesB = await outcomeCounts(second.pipeline, jobB);
      expect(outcomesB.size).toBe(40);
      expect([...outcomesB.values()].every((n) => n === 1)).toBe(true);
      const resultsB = (await outputFile(second.local.settings, `${jobB}/results.jsonl`))?.trim().split('\n') ?? [];
      const customIds = resultsB.map((line) => (JSON.parse(line) as { custom_id: string }).custom_id);
      expect(customIds).toHaveLength(40);
      expect(new Set(customIds)).toEqual(new Set(Array.from({ length: 40 }, (_, i) => `b-${i}`)));

      second.local.signal('SIGTERM');
      expect(await second.local.exited).toEqual({ code: 0, signal: null });
    },
  );
});
