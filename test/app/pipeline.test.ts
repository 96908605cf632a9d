import { describe, expect, it, vi } from 'vitest';
import { cancelJob } from '../../src/app/cancelJob.js';
import { parseControlMessage } from '../../src/core/controlMessage.js';
import { finalizeJob } from '../../src/app/finalizeJob.js';
import { ingestBlob } from '../../src/app/ingestBlob.js';
import { processRequestMessage } from '../../src/app/processRequestMessage.js';
import { FINALIZE_BACKUP_DELAY_IN_MS } from '../../src/app/recordOutcomesAndMaybeFinalize.js';
import type { Job } from '../../src/core/job.js';
import { type RequestMessage } from '../../src/core/requestMessage.js';
import { requestMessageOf } from '../support/requestMessageOf.js';
import { chatLine, createWorld, okResponse, roughTokenCounter, ScriptedChatClient } from './fixtures.js';

type World = ReturnType<typeof createWorld>;

/** Counts the job store's calls from now on (each is one round trip to the store). */
function countJobStoreCalls(world: World): { readonly count: number } {
  const counter = { count: 0 };
  const store = world.jobs as unknown as Record<string, (...args: unknown[]) => unknown>;
  const methods = Object.getOwnPropertyNames(Object.getPrototypeOf(world.jobs)).filter(
    (name) => name !== 'constructor',
  );
  for (const method of methods) {
    const original = store[method]!.bind(world.jobs);
    store[method] = (...args: unknown[]) => {
      counter.count += 1;
      return original(...args);
    };
  }
  return counter;
}

/** Holds the first two job reads until both were asked for, so that two deliveries both find no job yet. */
function bothLookFirst(world: World): () => boolean {
  const read = world.jobs.getJob.bind(world.jobs);
  let reads = 0;
  let release: () => void = () => undefined;
  const bothAsked = new Promise<void>((resolve) => (release = resolve));
  world.jobs.getJob = async (jobId) => {
    reads += 1;
    if (reads === 2) release();
    if (reads <= 2) await bothAsked;
    return read(jobId);
  };
  return () => reads >= 2;
}

const jobIdOf = (payload: unknown): string => (payload as { jobId: string }).jobId;

async function runAll(world: World): Promise<void> {
  for (let round = 0; round < 20; round += 1) {
    const work = world.requestQueue.drain();
    const control = world.controlQueue.drain();
    if (work.length === 0 && control.length === 0) return;
    for (const payload of work) await processRequestMessage(requestMessageOf(payload), world.workerDeps);
    for (const payload of control) {
      const message = parseControlMessage(payload);
      if (typeof message !== 'string' && message.kind === 'finalize')
        await finalizeJob(message.jobId, world.finalizeDeps);
    }
  }
}

const fileOf = (...lines: string[]) => `${lines.join('\r\n')}\r\n`;

/** Records the status filter of every outcome listing from now on (undefined: all outcomes). */
function recordListings(world: World): Array<string | undefined> {
  const listed: Array<string | undefined> = [];
  const list = world.jobs.listOutcomes.bind(world.jobs);
  world.jobs.listOutcomes = (jobId, options) => {
    listed.push(options?.status);
    return list(jobId, options);
  };
  return listed;
}

/** A slot limiter of one: tasks run one after the other. */
function oneAtATime(): <T>(task: () => Promise<T>) => Promise<T> {
  let queue = Promise.resolve();
  return (task) => {
    const turn = queue.then(task);
    queue = turn.then(
      () => undefined,
      () => undefined,
    );
    return turn;
  };
}

/** Ingests a three-line file and processes its one work message with `overrides` on the worker's deps. */
async function processThreeLines(world: World, overrides: Partial<World['workerDeps']>) {
  world.blobs.put('batch-input', 'in.jsonl', fileOf(chatLine('a', '1'), chatLine('b', '2'), chatLine('c', '3')));
  await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
  const [payload] = world.requestQueue.drain();
  return processRequestMessage(requestMessageOf(payload), { ...world.workerDeps, ...overrides });
}

/** Ingests a two-line file and returns its one work message, unprocessed. */
async function twoLineMessage() {
  const chat = new ScriptedChatClient();
  const world = createWorld(chat);
  world.blobs.put('batch-input', 'in.jsonl', fileOf(chatLine('a', '1'), chatLine('b', '2')));
  await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
  const [payload] = world.requestQueue.drain();
  return { chat, world, message: requestMessageOf(payload) };
}

describe('the pipeline on in-memory ports', () => {
  it('ingests, processes and finalises a file of valid and invalid lines', async () => {
    const world = createWorld();
    world.blobs.put(
      'batch-input',
      'in.jsonl',
      `\uFEFF${fileOf(chatLine('a', 'one'), 'not json', '', chatLine('b', 'two'), chatLine('a', 'dup'), JSON.stringify({ messages: [{ role: 'user', content: 'bare' }] }))}`,
    );
    const result = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    expect(result).toMatchObject({ kind: 'ingested', requests: 3, invalid: 2 });
    if (result.kind !== 'ingested') return;
    await runAll(world);

    const job = (await world.jobs.getJob(result.jobId))!.job;
    expect(job.status).toBe('completed');
    expect(job.counts).toEqual({ succeeded: 3, failed: 2 });
    expect(job.usage.promptTokens).toBe(30);
    const results = (await world.blobs.download('batch-output', `${result.jobId}/results.jsonl`))!
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(results.map((r) => r.custom_id)).toEqual(['a', 'b', '~line-6']);
    expect(results[2].response.body.choices[0].message.content).toBe('echo: bare');
    const errors = (await world.blobs.download('batch-output', `${result.jobId}/errors.jsonl`))!
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(errors.map((e) => [e.custom_id, e.error.code])).toEqual([
      ['~line-2', 'invalid_json_line'],
      ['a', 'duplicate_custom_id'],
    ]);
    expect(job.errors.map((e) => e.line)).toEqual([2, 5]);
  });

  it('commits the files from the parts staged as lines finished: exact, in line order, and not one outcome read back', async () => {
    const chat = new ScriptedChatClient((body) =>
      String(body.messages[0]?.content) === 'refused'
        ? {
            kind: 'response',
            status: 400,
            headers: {},
            body: { error: { code: 'content_filter', message: 'no' } },
            requestId: 'r',
            latencyInMs: 1,
          }
        : okResponse(body),
    );
    const world = createWorld(chat);
    // Four lines per message: three messages, an invalid line recorded by the ingest, a line the endpoint refuses.
    const lines = Array.from({ length: 10 }, (_, i) =>
      i === 3 ? 'not json' : chatLine(`c${i + 1}`, i === 6 ? 'refused' : `p${i + 1}`),
    );
    world.blobs.put('batch-input', 'in.jsonl', fileOf(...lines));
    const result = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    const jobId = result.kind === 'ingested' ? result.jobId : '';
    const listed = recordListings(world);
    await runAll(world);
    expect(listed).toEqual([]);
    const job = (await world.jobs.getJob(jobId))!.job;
    expect(job).toMatchObject({ status: 'completed', counts: { succeeded: 8, failed: 2 } });
    const read = async (name: string) =>
      (await world.blobs.download('batch-output', `${jobId}/${name}`))!
        .toString()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
    expect((await read('results.jsonl')).map((r) => r.custom_id)).toEqual([
      'c1',
      'c2',
      'c3',
      'c5',
      'c6',
      'c8',
      'c9',
      'c10',
    ]);
    expect((await read('errors.jsonl')).map((e) => [e.custom_id, e.error.code])).toEqual([
      ['~line-4', 'invalid_json_line'],
      ['c7', 'content_filter'],
    ]);
    // A finalisation that died after committing commits the same parts again.
    const before = (await world.blobs.download('batch-output', `${jobId}/results.jsonl`))!.toString();
    expect(await world.resultParts.commit(jobId, job.counts)).toBe(true);
    expect((await world.blobs.download('batch-output', `${jobId}/results.jsonl`))!.toString()).toBe(before);
  });

  it('the worker that records the last outcome finalises the job itself; the queued finalisation is a delayed backup', async () => {
    const world = createWorld();
    world.blobs.put(
      'batch-input',
      'in.jsonl',
      fileOf(...Array.from({ length: 6 }, (_, i) => chatLine(`c${i + 1}`, `p${i + 1}`))),
    );
    const result = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    const jobId = result.kind === 'ingested' ? result.jobId : '';
    const deps = { ...world.workerDeps, finalizeInline: (id: string) => finalizeJob(id, world.finalizeDeps) };
    for (const payload of world.requestQueue.drain()) await processRequestMessage(requestMessageOf(payload), deps);
    expect((await world.jobs.getJob(jobId))!.job).toMatchObject({
      status: 'completed',
      counts: { succeeded: 6, failed: 0 },
    });
    expect(world.controlQueue.sent).toEqual([
      { payload: { v: 1, kind: 'finalize', jobId }, visibilityDelayInMs: FINALIZE_BACKUP_DELAY_IN_MS },
    ]);
    expect(await finalizeJob(jobId, world.finalizeDeps)).toBe('already-final');
  });

  it('when finalising at once fails, the queued finalisation still does it', async () => {
    const world = createWorld();
    world.blobs.put('batch-input', 'in.jsonl', fileOf(chatLine('a', 'one')));
    const result = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    const jobId = result.kind === 'ingested' ? result.jobId : '';
    const deps = { ...world.workerDeps, finalizeInline: async () => Promise.reject(new Error('Cosmos unavailable')) };
    for (const payload of world.requestQueue.drain()) await processRequestMessage(requestMessageOf(payload), deps);
    expect((await world.jobs.getJob(jobId))!.job.status).toBe('in_progress');
    await runAll(world);
    expect((await world.jobs.getJob(jobId))!.job.status).toBe('completed');
  });

  it('a part that was never staged sends the files to the outcomes, and they are still exact', async () => {
    const world = createWorld();
    world.blobs.put(
      'batch-input',
      'in.jsonl',
      fileOf(...Array.from({ length: 10 }, (_, i) => chatLine(`c${i + 1}`, `p${i + 1}`))),
    );
    const result = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    const jobId = result.kind === 'ingested' ? result.jobId : '';
    const stage = world.blobs.stageBlock.bind(world.blobs);
    let stages = 0;
    world.blobs.stageBlock = async (...args) => {
      stages += 1;
      if (stages === 2) throw new Error('storage unavailable');
      return stage(...args);
    };
    await runAll(world);
    expect((await world.jobs.getJob(jobId))!.job).toMatchObject({
      status: 'completed',
      counts: { succeeded: 10, failed: 0 },
    });
    const results = (await world.blobs.download('batch-output', `${jobId}/results.jsonl`))!
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(results.map((r) => r.custom_id)).toEqual(Array.from({ length: 10 }, (_, i) => `c${i + 1}`));
  });

  it('written from the outcomes, a file the complete live counters say is empty is not listed, and still written', async () => {
    const world = createWorld();
    // No part is staged: the files are written from the outcomes.
    world.resultParts.stage = async () => {};
    world.blobs.put('batch-input', 'in.jsonl', fileOf(chatLine('a', 'one'), chatLine('b', 'two')));
    const result = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    const listed = recordListings(world);
    await runAll(world);
    const jobId = result.kind === 'ingested' ? result.jobId : '';
    expect((await world.jobs.getJob(jobId))!.job.counts).toEqual({ succeeded: 2, failed: 0 });
    expect(listed).toEqual(['succeeded']);
    expect((await world.blobs.download('batch-output', `${jobId}/errors.jsonl`))!.toString()).toBe('');
    expect(
      (await world.blobs.download('batch-output', `${jobId}/results.jsonl`))!.toString().trim().split('\n'),
    ).toHaveLength(2);
  });

  it('labels the blob with its job id and maps a second event for the same content to the same job', async () => {
    const world = createWorld();
    world.blobs.put('batch-input', 'in.jsonl', chatLine('a', 'one'));
    const first = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    const properties = await world.blobs.getProperties('batch-input', 'in.jsonl');
    expect(first.kind === 'ingested' && properties?.metadata['jobid']).toBe(
      first.kind === 'ingested' ? first.jobId : 'x',
    );
    const again = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    expect(again).toEqual({ kind: 'already-ingested', jobId: first.kind === 'ingested' ? first.jobId : '' });
    expect(world.requestQueue.sent).toHaveLength(1);
    world.blobs.put('batch-input', 'in.jsonl', chatLine('a', 'new content'));
    const replaced = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    expect(replaced.kind === 'ingested' && first.kind === 'ingested' && replaced.jobId !== first.jobId).toBe(true);
  });

  it("a new file's first message goes out with its job created and leased, after at most two job-store round trips", async () => {
    const world = createWorld();
    // More lines than a message holds (4 here), so the first message leaves while the file is read.
    world.blobs.put(
      'batch-input',
      'in.jsonl',
      `${Array.from({ length: 6 }, (_, i) => chatLine(`r${i}`, `prompt ${i}`)).join('\n')}\n`,
    );
    const roundTrips = countJobStoreCalls(world);
    let atFirstSend: { job: Job | undefined; roundTrips: number } | undefined;
    const requestQueue = {
      async ensureExists(): Promise<void> {},
      async send(payloads: readonly unknown[]): Promise<void> {
        atFirstSend ??= { roundTrips: roundTrips.count, job: (await world.jobs.getJob(jobIdOf(payloads[0])))?.job };
        await world.requestQueue.send(payloads);
      },
    };

    const result = await ingestBlob('batch-input', 'in.jsonl', { ...world.ingestDeps, requestQueue });

    expect(result.kind).toBe('ingested');
    // A worker that takes the first message finds its job, and a second delivery of the blob finds the lease taken.
    expect(atFirstSend?.job?.ingestLease?.untilInMs).toBeGreaterThan(world.clock.nowInMs());
    // The first message waits for no more than finding that there is no job and creating it (with its lease):
    // how soon workers start on a new file depends on it.
    expect(atFirstSend?.roundTrips).toBeLessThanOrEqual(2);
    const job = (await world.jobs.getJob((result as { jobId: string }).jobId))!.job;
    expect({ done: job.ingest.done, requests: job.ingest.requests, lease: job.ingestLease }).toEqual({
      done: true,
      requests: 6,
      lease: undefined,
    });
  });

  it('a delivery that loses the race to create the job takes turns through the lease, and the file is read once', async () => {
    const world = createWorld();
    world.blobs.put('batch-input', 'in.jsonl', `${chatLine('a', 'one')}\n`);
    // Both deliveries look for the job before either creates it: both try to create it, one wins.
    const bothLooked = bothLookFirst(world);
    const [first, second] = await Promise.all([
      ingestBlob('batch-input', 'in.jsonl', world.ingestDeps),
      ingestBlob('batch-input', 'in.jsonl', world.ingestDeps),
    ]);

    expect(bothLooked()).toBe(true);
    expect([first.kind, second.kind].sort()).toEqual(['busy', 'ingested']);
    expect(world.requestQueue.sent).toHaveLength(1);
  });

  it('fails a job whose file has no valid line, saying why', async () => {
    const world = createWorld();
    world.blobs.put('batch-input', 'bad.jsonl', fileOf('{', '[]'));
    const result = await ingestBlob('batch-input', 'bad.jsonl', world.ingestDeps);
    await runAll(world);
    const job = (await world.jobs.getJob(result.kind === 'ingested' ? result.jobId : ''))!.job;
    expect(job.status).toBe('failed');
    expect(job.jobError?.message).toMatch(/no valid request line/);
    expect(job.counts.failed).toBe(2);
  });

  it('fails an empty file with empty_batch', async () => {
    const world = createWorld();
    world.blobs.put('batch-input', 'empty.jsonl', '');
    const result = await ingestBlob('batch-input', 'empty.jsonl', world.ingestDeps);
    await runAll(world);
    const job = (await world.jobs.getJob(result.kind === 'ingested' ? result.jobId : ''))!.job;
    expect(job.status).toBe('failed');
    expect(job.jobError?.code).toBe('empty_batch');
  });

  it('a redelivered work message calls nothing and records nothing twice', async () => {
    const { chat, world, message } = await twoLineMessage();
    await processRequestMessage(message, world.workerDeps);
    const again = await processRequestMessage(message, world.workerDeps);
    expect(again).toEqual({ recorded: 0, alreadyDone: 2, requeued: 0 });
    expect(chat.calls).toHaveLength(2);
    expect(world.controlQueue.sent).toHaveLength(1);
  });

  it('the first delivery of a first send looks up no outcome; any later delivery does, and still calls nothing twice', async () => {
    const { chat, world, message } = await twoLineMessage();
    expect(message.firstSend).toBe(true);
    const lookups: number[][] = [];
    const realLookup = world.jobs.linesWithOutcome.bind(world.jobs);
    world.jobs.linesWithOutcome = async (jobId, lines) => {
      lookups.push([...lines]);
      return realLookup(jobId, lines);
    };
    expect(await processRequestMessage(message, world.workerDeps, { dequeueCount: 1 })).toEqual({
      recorded: 2,
      alreadyDone: 0,
      requeued: 0,
    });
    expect(lookups).toEqual([]);
    expect(await processRequestMessage(message, world.workerDeps, { dequeueCount: 2 })).toEqual({
      recorded: 0,
      alreadyDone: 2,
      requeued: 0,
    });
    // Without a first-send mark, or without a dequeue count, even a first delivery looks.
    const { firstSend: _mark, ...unmarked } = message;
    expect(await processRequestMessage(unmarked, world.workerDeps, { dequeueCount: 1 })).toEqual({
      recorded: 0,
      alreadyDone: 2,
      requeued: 0,
    });
    expect(await processRequestMessage(message, world.workerDeps)).toEqual({
      recorded: 0,
      alreadyDone: 2,
      requeued: 0,
    });
    expect(lookups).toEqual([
      [1, 2],
      [1, 2],
      [1, 2],
    ]);
    expect(chat.calls).toHaveLength(2);
  });

  it('reads the lines back side by side with the job, not after it', async () => {
    const { chat, world, message } = await twoLineMessage();
    let rangeReads = 0;
    const readRange = world.blobs.readRange.bind(world.blobs);
    world.blobs.readRange = async (...args) => {
      rangeReads += 1;
      return readRange(...args);
    };
    // The job read answers a turn of the event loop later, as a real store would: by then the lines' read is under way.
    const rangeReadsWhenJobAnswered: number[] = [];
    const getJob = world.jobs.getJob.bind(world.jobs);
    world.jobs.getJob = async (jobId) => {
      const stored = await getJob(jobId);
      await new Promise((resolve) => setImmediate(resolve));
      rangeReadsWhenJobAnswered.push(rangeReads);
      return stored;
    };
    expect(await processRequestMessage(message, world.workerDeps, { dequeueCount: 1 })).toEqual({
      recorded: 2,
      alreadyDone: 0,
      requeued: 0,
    });
    expect(rangeReadsWhenJobAnswered[0]).toBe(1);
    expect(chat.calls).toHaveLength(2);
  });

  it('work messages of one job that start together read the job once between them', async () => {
    let jobReads = 0;
    const jobReadsAtCall: number[] = [];
    const world = createWorld(
      new ScriptedChatClient((body) => {
        jobReadsAtCall.push(jobReads);
        return okResponse(body);
      }),
    );
    world.blobs.put(
      'batch-input',
      'in.jsonl',
      fileOf(...Array.from({ length: 12 }, (_, i) => chatLine(`l${i}`, String(i)))),
    );
    await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    const messages = world.requestQueue.drain().map((payload) => requestMessageOf(payload));
    expect(messages).toHaveLength(3);
    const getJob = world.jobs.getJob.bind(world.jobs);
    world.jobs.getJob = async (jobId) => {
      jobReads += 1;
      return getJob(jobId);
    };
    const results = await Promise.all(
      messages.map((message) => processRequestMessage(message, world.workerDeps, { dequeueCount: 1 })),
    );
    expect(results.map((r) => r.recorded)).toEqual([4, 4, 4]);
    expect(jobReadsAtCall).toEqual(Array(12).fill(1));
    // A message that starts after that read has settled reads the job afresh.
    const before = jobReads;
    await processRequestMessage(messages[0]!, world.workerDeps, { dequeueCount: 2 });
    expect(jobReads).toBe(before + 1);
  });

  it("a cancelled job's lines are recorded as cancelled even when their bodies cannot be read", async () => {
    const { chat, world, message } = await twoLineMessage();
    await cancelJob({ jobs: world.jobs, controlQueue: world.controlQueue, clock: world.clock }, message.jobId);
    world.blobs.readRange = async () => {
      throw new Error('storage unavailable');
    };
    expect(await processRequestMessage(message, world.workerDeps, { dequeueCount: 1 })).toEqual({
      recorded: 2,
      alreadyDone: 0,
      requeued: 0,
    });
    const statuses: string[] = [];
    for await (const outcome of world.jobs.listOutcomes(message.jobId)) statuses.push(outcome.status);
    expect(statuses).toEqual(['cancelled', 'cancelled']);
    expect(chat.calls).toHaveLength(0);
  });

  it('retries 5xx with backoff, honours 429 through the budget, and records non-retryable errors', async () => {
    const chat = new ScriptedChatClient((body, call) => {
      const text = String(body.messages[0]?.content);
      if (text === 'flaky' && call <= 2)
        return {
          kind: 'response',
          status: 503,
          headers: {},
          body: { error: { code: 'busy', message: 'busy' } },
          requestId: 'r',
          latencyInMs: 1,
        };
      if (text === 'throttled' && call === 4)
        return {
          kind: 'response',
          status: 429,
          headers: { 'retry-after-ms': '1500' },
          body: {},
          requestId: 'r',
          latencyInMs: 1,
        };
      if (text === 'filtered')
        return {
          kind: 'response',
          status: 400,
          headers: {},
          body: { error: { code: 'content_filter', message: 'filtered' } },
          requestId: 'r9',
          latencyInMs: 1,
        };
      return okResponse(body);
    });
    const world = createWorld(chat);
    world.blobs.put(
      'batch-input',
      'in.jsonl',
      fileOf(chatLine('f', 'flaky'), chatLine('t', 'throttled'), chatLine('x', 'filtered')),
    );
    const result = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    const [payload] = world.requestQueue.drain();
    const message = requestMessageOf(payload);
    // One line at a time, so the script's call numbers are predictable.
    for (const item of message.items) await processRequestMessage({ ...message, items: [item] }, world.workerDeps);
    await runAll(world);
    const jobId = result.kind === 'ingested' ? result.jobId : '';
    const outcomes = [];
    for await (const o of world.jobs.listOutcomes(jobId)) outcomes.push(o);
    expect(outcomes.map((o) => [o.customId, o.status, o.attempts])).toEqual([
      ['f', 'succeeded', 3],
      ['t', 'succeeded', 2],
      ['x', 'failed', 1],
    ]);
    expect(world.sleeps).toEqual([75, 150]); // exponential backoff with jitter factor 0.75 at random()=0.5
    expect(world.limiter.pauses).toHaveLength(1);
    expect(outcomes[2]!.error).toEqual({ code: 'content_filter', message: 'filtered' });
    expect(outcomes[2]!.response?.status_code).toBe(400);
    expect((await world.jobs.getJob(jobId))!.job.status).toBe('completed');
  });

  it('re-queues with a delay instead of sleeping through a daily-quota 429', async () => {
    const chat = new ScriptedChatClient((body, call) =>
      call === 1
        ? {
            kind: 'response',
            status: 429,
            headers: { 'retry-after': '86400' },
            body: {},
            requestId: 'r',
            latencyInMs: 1,
          }
        : okResponse(body),
    );
    const world = createWorld(chat);
    world.blobs.put('batch-input', 'in.jsonl', chatLine('q', 'quota'));
    await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    const [payload] = world.requestQueue.drain();
    const result = await processRequestMessage(requestMessageOf(payload), world.workerDeps, { dequeueCount: 1 });
    expect(result.requeued).toBe(1);
    expect(world.requestQueue.sent[0]!.visibilityDelayInMs).toBe(3_600_000);
    // A crash before the original is deleted would deliver both: the re-queued copy must look before it calls.
    expect((world.requestQueue.sent[0]!.payload as RequestMessage).firstSend).toBeUndefined();
    expect(world.sleeps).toEqual([]);
    // The deployment is paused for the cap, not a day: after it, the endpoint is asked again.
    expect(world.limiter.pauses).toEqual([world.clock.now + 3_600_000]);
    const job = (await world.jobs.getJob(requestMessageOf(payload).jobId))!.job;
    expect(job.deferral?.reason).toMatch(/retry after 86400 s/);
  });

  it('takes the budget after the write-ahead, right before the request, and leaves no entry for a line the budget turns away', async () => {
    const world = createWorld();
    const ledgerSizeAtAdmission: number[] = [];
    let refuse = false;
    const acquire = world.limiter.acquire.bind(world.limiter);
    world.limiter.acquire = async (cost, options) => {
      ledgerSizeAtAdmission.push(world.ledger.entries.size);
      return refuse ? { granted: false, waitInMs: 120_000 } : acquire(cost, options);
    };
    world.blobs.put('batch-input', 'in.jsonl', fileOf(chatLine('a', '1')));
    await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    const [payload] = world.requestQueue.drain();
    const message = requestMessageOf(payload);

    refuse = true;
    expect(await processRequestMessage(message, world.workerDeps)).toMatchObject({ recorded: 0, requeued: 1 });
    // The entry was written before admission was asked for, and removed when it was refused.
    expect(ledgerSizeAtAdmission).toEqual([1]);
    expect(world.ledger.entries.size).toBe(0);

    // A pause the endpoint asked for, longer than a line may wait: re-queued before anything is written.
    refuse = false;
    world.limiter.pauseUntil(world.clock.now + 120_000);
    expect(await processRequestMessage(message, world.workerDeps)).toMatchObject({ recorded: 0, requeued: 1 });
    expect(ledgerSizeAtAdmission).toEqual([1]);

    world.limiter.pausedUntilInMs = 0;
    expect(await processRequestMessage(message, world.workerDeps)).toMatchObject({ recorded: 1, requeued: 0 });
    expect(ledgerSizeAtAdmission).toEqual([1, 1]);
    expect([...world.ledger.entries.values()].map((e) => e.state)).toEqual(['billed']);
  });

  it('lines waiting for a call slot have counted, reserved and written nothing yet', async () => {
    const unsettledAtEachCall: number[] = [];
    const countedAtEachCall: number[] = [];
    const counting = vi.spyOn(roughTokenCounter, 'countChatPrompt');
    const chat = new ScriptedChatClient((body) => {
      unsettledAtEachCall.push([...world.ledger.entries.values()].filter((e) => e.state === 'sent').length);
      countedAtEachCall.push(counting.mock.calls.length);
      return okResponse(body);
    });
    const world: World = createWorld(chat);
    // One slot: the message's three lines take turns.
    const oneSlot = oneAtATime();
    try {
      const result = await processThreeLines(world, { callSlots: oneSlot });
      expect(result).toMatchObject({ recorded: 3 });
    } finally {
      counting.mockRestore();
    }
    expect(unsettledAtEachCall).toEqual([1, 1, 1]);
    // The ingest counts the lines first; after that, a line is counted only once it has the slot: one more per call.
    expect(countedAtEachCall.map((n) => n - countedAtEachCall[0]!)).toEqual([0, 1, 2]);
  });

  it('at most the admission slots are written ahead and waiting for the budget at once', async () => {
    const started = new Set<string>();
    const chat = new ScriptedChatClient((body, _call, _customId, callId) => {
      started.add(callId!);
      return okResponse(body);
    });
    const world = createWorld(chat);
    const writtenNotSentAtAdmission: number[] = [];
    const acquire = world.limiter.acquire.bind(world.limiter);
    world.limiter.acquire = async (cost, options) => {
      writtenNotSentAtAdmission.push(
        [...world.ledger.entries.values()].filter((e) => e.state === 'sent' && !started.has(e.id)).length,
      );
      return acquire(cost, options);
    };
    const oneSlot = oneAtATime();
    const result = await processThreeLines(world, { admissionSlots: (_deployment, task) => oneSlot(task) });
    expect(result).toMatchObject({ recorded: 3 });
    expect(writtenNotSentAtAdmission).toEqual([1, 1, 1]);
  });

  it('gives up after maxAttempts on persistent timeouts with retries_exhausted', async () => {
    const world = createWorld(new ScriptedChatClient(() => ({ kind: 'timeout', latencyInMs: 5 })));
    world.blobs.put('batch-input', 'in.jsonl', chatLine('t', 'slow'));
    const result = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    await runAll(world);
    const outcomes = [];
    for await (const o of world.jobs.listOutcomes(result.kind === 'ingested' ? result.jobId : '')) outcomes.push(o);
    expect(outcomes[0]).toMatchObject({ status: 'failed', attempts: 3, error: { code: 'retries_exhausted' } });
  });

  it('applies DEFAULT_MAX_TOKENS to lines without max_tokens and says so on the job', async () => {
    const chat = new ScriptedChatClient();
    const world = createWorld(chat);
    world.blobs.put('batch-input', 'in.jsonl', JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }));
    const result = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    await runAll(world);
    expect(chat.calls[0]!.body.max_tokens).toBe(100);
    expect(
      (await world.jobs.getJob(result.kind === 'ingested' ? result.jobId : ''))!.job.ingest.defaultMaxTokensApplied,
    ).toBe(1);
  });

  it('carries bodies inline when asked, and still sends a request too large for a message by reference', async () => {
    const chat = new ScriptedChatClient();
    const world = createWorld(chat);
    const big = 'y'.repeat(3000);
    world.blobs.put('batch-input', 'in.jsonl', fileOf(chatLine('s', 'small'), chatLine('big', big)));
    await ingestBlob('batch-input', 'in.jsonl', {
      ...world.ingestDeps,
      packing: { ...world.ingestDeps.packing, inlineBodies: true },
    });
    const items = world.requestQueue.sent.flatMap((m) => (m.payload as RequestMessage).items);
    expect(items.map((i) => ('ref' in i ? 'ref' : 'inline'))).toEqual(['inline', 'ref']);
    await runAll(world);
    expect(chat.calls.map((c) => String(c.body.messages[0]?.content).length)).toContain(3000);
  });

  it("by default sends references only, and the worker reads a message's lines back in one range read", async () => {
    const chat = new ScriptedChatClient();
    const world = createWorld(chat);
    world.blobs.put('batch-input', 'in.jsonl', fileOf(chatLine('a', 'één'), chatLine('b', '😀'), chatLine('c', 'c')));
    let reads = 0;
    const readRange = world.blobs.readRange.bind(world.blobs);
    world.blobs.readRange = async (...args) => {
      reads += 1;
      return readRange(...args);
    };
    await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    const items = world.requestQueue.sent.flatMap((m) => (m.payload as RequestMessage).items);
    expect(items.every((i) => 'ref' in i)).toBe(true);
    await runAll(world);
    expect(reads).toBe(1);
    expect(chat.calls.map((c) => c.body.messages[0]?.content)).toEqual(['één', '😀', 'c']);
  });

  it('messages a worker starts together read their lines back in one range read; one at a time, one each', async () => {
    const chat = new ScriptedChatClient();
    const world = createWorld(chat);
    world.blobs.put(
      'batch-input',
      'in.jsonl',
      fileOf(...Array.from({ length: 12 }, (_, i) => chatLine(`id-${i}`, `prompt ${i}`))),
    );
    const reads: Array<{ offset: number; length: number }> = [];
    const readRange = world.blobs.readRange.bind(world.blobs);
    world.blobs.readRange = async (container, name, range) => {
      reads.push({ offset: range.offset, length: range.length });
      return readRange(container, name, range);
    };
    await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    const messages = world.requestQueue.drain().map((payload) => requestMessageOf(payload));
    expect(messages).toHaveLength(3);

    await Promise.all(messages.map((message) => processRequestMessage(message, world.workerDeps, { dequeueCount: 2 })));
    expect(reads).toHaveLength(1);
    expect(chat.calls.map((c) => c.body.messages[0]?.content).sort()).toEqual(
      Array.from({ length: 12 }, (_, i) => `prompt ${i}`).sort(),
    );

    // Delivered again one by one (all their lines done now): each reads its own lines.
    for (const message of messages) await processRequestMessage(message, world.workerDeps, { dequeueCount: 3 });
    expect(reads).toHaveLength(4);
    const [together, first, , last] = reads;
    expect(together).toEqual({ offset: first!.offset, length: last!.offset + last!.length - first!.offset });
  });

  it('resumes an ingest that crashed half-way without sending any message twice', async () => {
    const world = createWorld();
    const lines = Array.from({ length: 40 }, (_, i) => chatLine(`id-${i}`, `prompt ${i}`));
    world.blobs.put('batch-input', 'big.jsonl', fileOf(...lines));
    const realSend = world.requestQueue.send.bind(world.requestQueue);
    let sends = 0;
    world.requestQueue.send = async (payloads, options) => {
      sends += 1;
      if (sends === 2) throw new Error('host died');
      await realSend(payloads, options);
    };
    // Small flushes so the crash lands after a checkpoint.
    const deps = {
      ...world.ingestDeps,
      packing: { maxMessageBytes: 2048, maxItemsPerMessage: 1 },
      messagesPerCheckpoint: 5,
    };
    await expect(ingestBlob('batch-input', 'big.jsonl', deps)).rejects.toThrow('host died');
    // The dead reader's lease holds off a redelivery until it expires.
    expect((await ingestBlob('batch-input', 'big.jsonl', deps)).kind).toBe('busy');
    world.clock.now += 5 * 60_000 + 1;
    const firstRun = world.requestQueue.sent.length;
    await ingestBlob('batch-input', 'big.jsonl', deps);
    const seqs = world.requestQueue.sent.map((m) => (m.payload as RequestMessage).seq);
    const lineNumbers = world.requestQueue.sent.flatMap((m) => (m.payload as RequestMessage).items.map((i) => i.line));
    expect(new Set(seqs).size).toBe(seqs.length);
    // The dead reader may have sent more than its checkpoint says: what the resumed one sends is not marked a first send.
    const marks = world.requestQueue.sent.map((m) => (m.payload as RequestMessage).firstSend);
    expect(marks.slice(0, firstRun).every((mark) => mark === true)).toBe(true);
    expect(marks.slice(firstRun).every((mark) => mark === undefined)).toBe(true);
    expect(marks.length).toBeGreaterThan(firstRun);
    expect(lineNumbers.sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });
});
