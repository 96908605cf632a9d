import { describe, expect, it } from 'vitest';
import { InMemoryBacklogs } from '../../src/adapters/memory/InMemoryBacklogs.js';
import { InMemoryFairShareStore } from '../../src/adapters/memory/InMemoryFairShareStore.js';
import { cancelJob } from '../../src/app/cancelJob.js';
import { FairShareScheduleViews } from '../../src/app/fairShareViews.js';
import { addWork } from '../../src/core/fairShare.js';
import { feedWork, type FeedDeps } from '../../src/app/feedWork.js';
import { ingestBlob } from '../../src/app/ingestBlob.js';
import { processRequestMessage } from '../../src/app/processRequestMessage.js';
import { sweep } from '../../src/app/sweep.js';
import { tendFairShare } from '../../src/app/tendFairShare.js';
import { FEED_DRAIN_MESSAGES, FEED_LEASE_IN_MS } from '../../src/app/tuning.js';
import { silentLogger } from '../../src/app/Logger.js';
import { requestMessageOf } from '../support/requestMessageOf.js';
import { chatLine, createWorld, okResponse, ScriptedChatClient } from './fixtures.js';

/** A world whose ingest sends to per-job backlogs, fed to the work queue by the feeder (decision 0012). */
function fairWorld() {
  const world = createWorld();
  const backlogs = new InMemoryBacklogs();
  const fairShare = new InMemoryFairShareStore();
  let feedIds = 0;
  const feedDeps: FeedDeps = {
    backlogs,
    requestQueue: world.requestQueue,
    workQueueDepth: { approximateCount: async () => world.requestQueue.sent.length },
    fairShare,
    clock: world.clock,
    logger: silentLogger,
    // 60 requests/min of 4-line messages with 1 s latency: a lead of 4 messages (the minimum).
    limitsOf: () => ({ requestsPerMinute: 60, tokensPerMinute: 1_000_000 }),
    requestsPerMessage: 4,
    newFeedId: () => `feed-${(feedIds += 1)}`,
  };
  const feed = (deployment: string) => feedWork(feedDeps, deployment);
  const scheduling = { backlogs, fairShare, feed };
  const ingestDeps = { ...world.ingestDeps, scheduling };
  const workerDeps = { ...world.workerDeps, feed };
  return { ...world, backlogs, fairShare, feedDeps, ingestDeps, workerDeps, scheduling };
}

const fileOf = (prefix: string, lines: number) =>
  Array.from({ length: lines }, (_, i) => chatLine(`${prefix}${i}`, `${prefix} ${i}`)).join('\n');

type World = ReturnType<typeof fairWorld>;

/** Runs the work queue's messages one at a time, in order; returns the job of each, in the order run. */
async function runWorkQueue(world: World, max = 10_000): Promise<string[]> {
  const order: string[] = [];
  while (world.requestQueue.sent.length > 0 && order.length < max) {
    const { payload } = world.requestQueue.sent.shift()!;
    const message = requestMessageOf(payload);
    order.push(message.jobId);
    await processRequestMessage(message, world.workerDeps);
  }
  return order;
}

describe('lazy fan-out through per-job backlogs', () => {
  it('keeps the work queue at its lead, and a high job dropped behind a long low one runs first', async () => {
    const world = fairWorld();
    world.blobs.put('batch-input', 'low.jsonl', fileOf('l', 200), { priority: 'low' });
    const low = await ingestBlob('batch-input', 'low.jsonl', world.ingestDeps);
    // 50 messages in the low job's backlog; only the lead went to the work queue.
    expect(world.requestQueue.sent.length).toBe(4);
    world.blobs.put('batch-input', 'high.jsonl', fileOf('h', 20), { priority: 'high' });
    const high = await ingestBlob('batch-input', 'high.jsonl', world.ingestDeps);
    const order = await runWorkQueue(world);
    const lowId = 'jobId' in low ? low.jobId : '';
    const highId = 'jobId' in high ? high.jobId : '';
    const lastHigh = order.lastIndexOf(highId);
    // The high job's 5 messages come right after the lead held when it arrived, beside a few low ones.
    expect(lastHigh).toBeLessThan(4 + 5 + 2);
    expect(order.filter((j) => j === lowId)).toHaveLength(50);
    for (const id of [lowId, highId]) {
      const { job } = (await world.jobs.getJob(id))!;
      expect(job.counts.succeeded).toBe(job.ingest.requests);
    }
  });

  it('loses nothing when a feeder dies mid-move: the messages come back and are fed again', async () => {
    const world = fairWorld();
    world.blobs.put('batch-input', 'a.jsonl', fileOf('a', 8));
    const sendOnce = world.requestQueue.send.bind(world.requestQueue);
    // The feeder dies after taking the messages from the backlog, before they reach the work queue.
    world.requestQueue.send = async () => {
      throw new Error('feeder killed');
    };
    const result = await ingestBlob('batch-input', 'a.jsonl', world.ingestDeps);
    const jobId = 'jobId' in result ? result.jobId : '';
    world.requestQueue.send = sendOnce;
    expect(world.requestQueue.sent).toHaveLength(0);
    // Nothing comes back before the lease ends; then the timer's pass schedules and feeds them again.
    await tendFairShare({ ...world.feedDeps, jobs: world.jobs }, 'test');
    expect(world.requestQueue.sent).toHaveLength(0);
    world.clock.now += FEED_LEASE_IN_MS + 1;
    await tendFairShare({ ...world.feedDeps, jobs: world.jobs }, 'test');
    // They may have reached the work queue before: the worker is told to look which lines are done.
    expect(world.requestQueue.sent.length).toBeGreaterThan(0);
    expect(world.requestQueue.sent.filter((m) => 'firstSend' in (m.payload as object))).toEqual([]);
    await runWorkQueue(world);
    const { job } = (await world.jobs.getJob(jobId))!;
    expect(job.counts).toEqual({ succeeded: 8, failed: 0 });
  });

  it('never lets two concurrent feeds claim the same part of a backlog', async () => {
    const world = fairWorld();
    world.feedDeps = { ...world.feedDeps, limitsOf: () => ({ requestsPerMinute: 600, tokensPerMinute: 1_000_000 }) };
    world.blobs.put('batch-input', 'a.jsonl', fileOf('a', 200));
    await ingestBlob('batch-input', 'a.jsonl', world.ingestDeps);
    world.requestQueue.sent.length = 0;
    await Promise.all([
      feedWork(world.feedDeps, 'test'),
      feedWork(world.feedDeps, 'test'),
      feedWork(world.feedDeps, 'test'),
    ]);
    const lines = world.requestQueue.sent.flatMap((m) => requestMessageOf(m.payload).items.map((i) => i.line));
    expect(lines.length).toBeGreaterThan(0);
    expect(new Set(lines).size).toBe(lines.length);
  });

  it('feeds messages a resumed ingest appended again, and the job does not wait for work it lacks', async () => {
    const world = fairWorld();
    world.blobs.put('batch-input', 'r.jsonl', fileOf('r', 16));
    const result = await ingestBlob('batch-input', 'r.jsonl', world.ingestDeps);
    const jobId = 'jobId' in result ? result.jobId : '';
    // A resumed ingest appends its last message again: the state does not count it.
    const last = world.requestQueue.sent[world.requestQueue.sent.length - 1]!.payload;
    await world.backlogs.send(jobId, [last]);
    await runWorkQueue(world);
    await tendFairShare({ ...world.feedDeps, jobs: world.jobs }, 'test');
    await runWorkQueue(world);
    const state = await world.fairShare.read('test');
    expect(state.jobs[jobId]?.offset ?? (await world.backlogs.length(jobId))).toBe(await world.backlogs.length(jobId));
    const { job } = (await world.jobs.getJob(jobId))!;
    expect(job.counts.succeeded).toBe(16);
  });

  it('gives a cancelled job’s unfed lines their outcome, then drops its backlog', async () => {
    const world = fairWorld();
    world.blobs.put('batch-input', 'c.jsonl', fileOf('c', 100));
    const result = await ingestBlob('batch-input', 'c.jsonl', world.ingestDeps);
    const jobId = 'jobId' in result ? result.jobId : '';
    await runWorkQueue(world, 2);
    await cancelJob({ ...world, fairShare: world.fairShare }, jobId);
    for (
      let round = 0;
      round < 10 &&
      (await world.backlogs.length(jobId)) > ((await world.fairShare.read('test')).jobs[jobId]?.offset ?? 0);
      round += 1
    ) {
      await feedWork(world.feedDeps, 'test');
      await runWorkQueue(world);
    }
    const outcomes = await world.jobs.totalsOfOutcomes(jobId);
    expect(outcomes.succeeded + outcomes.failed).toBe(100);
    const report = await tendFairShare({ ...world.feedDeps, jobs: world.jobs }, 'test');
    expect(report.left).toBe(1);
    expect(world.backlogs.jobIds).toEqual([]);
    expect((await world.fairShare.read('test')).jobs).toEqual({});
  });

  it('moves a cancelled job’s messages only while the work queue is short of its drain depth', async () => {
    const world = fairWorld();
    world.blobs.put('batch-input', 'd.jsonl', fileOf('d', 1_000));
    const result = await ingestBlob('batch-input', 'd.jsonl', world.ingestDeps);
    const jobId = 'jobId' in result ? result.jobId : '';
    await cancelJob({ ...world, fairShare: world.fairShare }, jobId);
    for (let n = 0; n < 5; n += 1) await feedWork(world.feedDeps, 'test');
    expect(world.requestQueue.sent.length).toBe(FEED_DRAIN_MESSAGES);
  });

  it('feeds a job behind its window earlier when many messages wait in the work queue ahead of its last', async () => {
    // 1 request a second, 4 a message. The window job's 60 messages beside an equal job's 1,000 are fed
    // in 480 s; its window closes in 600 s, less 60 s of slack. With 40 messages outstanding (160 s
    // of work: a low job's, overtaken, held in the workers) its last message would wait too long.
    const windowPicks = async (outstanding: number, heldBackMessages: number) => {
      const world = fairWorld();
      const deps = { ...world.feedDeps, workQueueDepth: { approximateCount: async () => outstanding } };
      const now = world.clock.nowInMs();
      for (const [jobId, messages, deadlineAtInMs] of [
        ['window', 60, now + 600_000],
        ['other', 1_000, undefined],
      ] as const) {
        await world.backlogs.send(
          jobId,
          Array.from({ length: messages }, (_, n) => ({ jobId, n })),
        );
        await world.fairShare.update('test', (state) => ({
          state: addWork(state, jobId, { weight: 4, deadlineAtInMs, ingest: { messages, tokens: messages * 400 } }),
          result: undefined,
        }));
      }
      // The same room either way: 14 messages.
      await feedWork(deps, 'test', { heldBackMessages });
      return world.requestQueue.sent.filter((m) => (m.payload as { jobId: string }).jobId === 'window').length;
    };
    expect(await windowPicks(0, 10)).toBe(7);
    expect(await windowPicks(40, 50)).toBeGreaterThanOrEqual(8);
  });

  it('shows each job’s share over the last minute and an ETA that counts the other jobs’ work', async () => {
    const world = fairWorld();
    world.blobs.put('batch-input', 'a.jsonl', fileOf('a', 40), { priority: 'high' });
    world.blobs.put('batch-input', 'b.jsonl', fileOf('b', 40), { priority: 'low' });
    const a = await ingestBlob('batch-input', 'a.jsonl', world.ingestDeps);
    const b = await ingestBlob('batch-input', 'b.jsonl', world.ingestDeps);
    const views = await new FairShareScheduleViews(world.fairShare, world.clock, world.feedDeps.limitsOf, 4).viewsFor(
      'test',
    );
    const high = views.get('jobId' in a ? a.jobId : '')!;
    const low = views.get('jobId' in b ? b.jobId : '')!;
    expect(high.share).toBeGreaterThan(0);
    // The high job's work ends first (32/33 of the rate); the low job's after both backlogs are fed.
    expect(high.etaAtInMs!).toBeLessThan(low.etaAtInMs!);
  });

  it('is not taken for stalled by the sweeper while its backlog holds work', async () => {
    const world = fairWorld();
    world.blobs.put('batch-input', 'w.jsonl', fileOf('w', 40));
    const result = await ingestBlob('batch-input', 'w.jsonl', world.ingestDeps);
    const jobId = 'jobId' in result ? result.jobId : '';
    world.clock.now += 3_600_000;
    const report = await sweep({ ...world.ingestDeps, scheduling: world.scheduling }, { stallInMs: 60_000 });
    expect(report.actions[jobId]).toBe('waiting');
    expect(report.requeuedLines).toBe(0);
  });
});

describe("the work queue's lead follows how long messages are held", () => {
  it('tells the feeder the time from a message’s first call to its last answer, not from its arrival', async () => {
    // The first call answers at once; the message's slowest answer takes 45 s.
    const chat = new ScriptedChatClient((body, call) => {
      world.clock.now += call === 1 ? 0 : 45_000;
      return okResponse(body);
    });
    const world = createWorld(chat);
    const told: Array<number | undefined> = [];
    const workerDeps = {
      ...world.workerDeps,
      feed: async (_deployment: string, options: { latencyInMs?: number | undefined }) =>
        told.push(options.latencyInMs),
    };
    world.blobs.put('batch-input', 'slow.jsonl', fileOf('s', 2));
    await ingestBlob('batch-input', 'slow.jsonl', world.ingestDeps);
    // Before the first call, the message waited 20 s for the budget: not service.
    world.clock.now += 20_000;
    const { payload } = world.requestQueue.sent.shift()!;
    await processRequestMessage(requestMessageOf(payload), workerDeps);
    expect(told).toEqual([45_000]);
  });
});

describe('messages overtaken in a worker', () => {
  it('do not count against the lead: the feed that reports them tops the work queue up past them', async () => {
    const world = fairWorld();
    world.blobs.put('batch-input', 'low.jsonl', fileOf('l', 200), { priority: 'low' });
    await ingestBlob('batch-input', 'low.jsonl', world.ingestDeps);
    expect(world.requestQueue.sent.length).toBe(4);
    await feedWork(world.feedDeps, 'test');
    expect(world.requestQueue.sent.length).toBe(4);
    // A worker holds two of them behind a heavier job's lines.
    await feedWork(world.feedDeps, 'test', { heldBackMessages: 2 });
    expect(world.requestQueue.sent.length).toBe(6);
  });
});

describe('the weight a message is fed at', () => {
  it('goes with it to the work queue, for its lines to wait by', async () => {
    const world = fairWorld();
    world.blobs.put('batch-input', 'low.jsonl', fileOf('l', 40), { priority: 'low' });
    world.blobs.put('batch-input', 'high.jsonl', fileOf('h', 40), { priority: 'high' });
    const low = (await ingestBlob('batch-input', 'low.jsonl', world.ingestDeps)) as { jobId: string };
    const high = (await ingestBlob('batch-input', 'high.jsonl', world.ingestDeps)) as { jobId: string };
    world.requestQueue.sent.splice(0);
    await feedWork(world.feedDeps, 'test', { heldBackMessages: 8 });
    const fed = world.requestQueue.sent.map(({ payload }) => requestMessageOf(payload));
    const weightsOf = (jobId: string) => new Set(fed.filter((m) => m.jobId === jobId).map((m) => m.weight));
    expect(weightsOf(high.jobId)).toEqual(new Set([32]));
    expect(weightsOf(low.jobId)).toEqual(new Set([1]));
  });
});
