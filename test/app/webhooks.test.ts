import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { InMemoryJobStore } from '../../src/adapters/memory/InMemoryJobStore.js';
import { InMemoryMessageQueue } from '../../src/adapters/memory/InMemoryMessageQueue.js';
import { silentLogger } from '../../src/app/Logger.js';
import { parseControlMessage } from '../../src/core/controlMessage.js';
import { deliverWebhook, queueFinalEvent, type WebhookDeps } from '../../src/app/webhooks.js';
import { newJob, type Job } from '../../src/core/job.js';

const SECRET = `whsec_${Buffer.from('a-test-signing-key-of-32-bytes!!').toString('base64')}`;
const sdk = new OpenAI({ apiKey: 'unused', webhookSecret: SECRET });

function world(answers: number[]) {
  // Starts at the real time: the SDK checks the signature's timestamp against its own clock.
  const clock = {
    now: Date.now(),
    nowInMs(): number {
      return this.now;
    },
  };
  const jobs = new InMemoryJobStore();
  const controlQueue = new InMemoryMessageQueue();
  const received: Array<{ body: string; headers: Record<string, string> }> = [];
  const deps: WebhookDeps = {
    jobs,
    controlQueue,
    clock,
    logger: silentLogger,
    sender: {
      post: async (_url, body, headers) => {
        received.push({ body, headers: { ...headers } });
        return { status: answers.shift() ?? 200 };
      },
    },
    target: { url: 'http://127.0.0.1:1/hook', secret: SECRET, retryDelaysInMs: [5_000, 300_000] },
  };
  return { clock, jobs, controlQueue, received, deps };
}

async function finalJob(jobs: InMemoryJobStore, status: Job['status'], atInMs: number): Promise<Job> {
  const job: Job = {
    ...newJob({
      id: `job_${'ab'.repeat(16)}`,
      createdAtInMs: atInMs - 1000,
      input: { container: 'c', name: 'n.jsonl', etag: 'e', size: 1 },
      model: 'm',
      deployment: 'd',
    }),
    status,
    timestamps: { completedAt: atInMs, expiredAt: atInMs },
  };
  await jobs.createJob(job);
  return job;
}

/** Runs the webhook messages queued so far (their delays are recorded, not waited for). */
async function runQueued(w: ReturnType<typeof world>): Promise<Array<{ result: string; delay: number }>> {
  const queued = w.controlQueue.sent.splice(0);
  const results = [];
  for (const { payload, visibilityDelayInMs } of queued) {
    const message = parseControlMessage(payload);
    if (typeof message === 'string' || message.kind !== 'webhook')
      throw new Error(`unexpected ${JSON.stringify(payload)}`);
    results.push({ result: await deliverWebhook(message, w.deps), delay: visibilityDelayInMs });
  }
  return results;
}

describe('webhooks for final batches', () => {
  it("posts OpenAI's event shape, signed as Standard Webhooks: the SDK's unwrap() accepts it", async () => {
    const w = world([]);
    const job = await finalJob(w.jobs, 'completed', w.clock.now);
    await queueFinalEvent(job, w.deps);
    expect(await runQueued(w)).toEqual([{ result: 'delivered', delay: 0 }]);
    const { body, headers } = w.received[0]!;
    const event = await sdk.webhooks.unwrap(body, headers);
    expect(event).toEqual({
      id: headers['webhook-id'],
      object: 'event',
      created_at: Math.floor(w.clock.now / 1000),
      type: 'batch.completed',
      data: { id: job.id },
    });
    // A body changed on the way, or another secret, fails verification.
    await expect(sdk.webhooks.unwrap(body.replace('completed', 'failed'), headers)).rejects.toThrow();
    await expect(
      sdk.webhooks.unwrap(body, headers, `whsec_${Buffer.from('another-key-of-enough-length!!').toString('base64')}`),
    ).rejects.toThrow();
    expect((await w.jobs.getJob(job.id))!.job.webhook).toMatchObject({
      attempts: 1,
      lastStatus: 200,
      deliveredAtInMs: w.clock.now,
    });
  });

  it('retries a refused delivery after each delay of the schedule, with the same webhook-id, until it is taken', async () => {
    const w = world([500, 503]);
    const job = await finalJob(w.jobs, 'expired', w.clock.now);
    await queueFinalEvent(job, w.deps);
    expect(await runQueued(w)).toEqual([{ result: 'retrying', delay: 0 }]);
    expect((await w.jobs.getJob(job.id))!.job.webhook).toMatchObject({ attempts: 1, lastStatus: 500 });
    expect(await runQueued(w)).toEqual([{ result: 'retrying', delay: 5_000 }]);
    expect(await runQueued(w)).toEqual([{ result: 'delivered', delay: 300_000 }]);
    expect(new Set(w.received.map((r) => r.headers['webhook-id'])).size).toBe(1);
    expect(JSON.parse(w.received[2]!.body).type).toBe('batch.expired');
    expect((await w.jobs.getJob(job.id))!.job.webhook).toMatchObject({ attempts: 3, lastStatus: 200 });
    // Queued again (finalisation re-run), it is not delivered twice.
    await queueFinalEvent((await w.jobs.getJob(job.id))!.job, w.deps);
    expect(w.controlQueue.sent).toHaveLength(0);
  });

  it('gives up once the schedule runs out, and says so on the job', async () => {
    const w = world([500, 500, 500, 500]);
    const job = await finalJob(w.jobs, 'cancelled', w.clock.now);
    await queueFinalEvent(job, w.deps);
    const results = [...(await runQueued(w)), ...(await runQueued(w)), ...(await runQueued(w))];
    expect(results.map((r) => r.result)).toEqual(['retrying', 'retrying', 'gave-up']);
    expect(w.controlQueue.sent).toHaveLength(0);
    expect((await w.jobs.getJob(job.id))!.job.webhook).toMatchObject({ attempts: 3, gaveUpAtInMs: w.clock.now });
  });

  it('a redelivered attempt is not posted again', async () => {
    const w = world([]);
    const job = await finalJob(w.jobs, 'failed', w.clock.now);
    await queueFinalEvent(job, w.deps);
    const [message] = w.controlQueue.sent.map((m) => m.payload);
    await runQueued(w);
    await w.controlQueue.send([message]);
    expect(await runQueued(w)).toEqual([{ result: 'skipped', delay: 0 }]);
    expect(w.received).toHaveLength(1);
  });
});
