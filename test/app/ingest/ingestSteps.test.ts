import { describe, expect, it } from 'vitest';
import { CustomIdSet } from '../../../src/core/CustomIdSet.js';
import { newJob, JobStatus, MAX_ERRORS_ON_JOB, type Job } from '../../../src/core/job.js';
import type { RawLine } from '../../../src/core/LineSplitter.js';
import type { ChatCompletionBody, TokenCounter } from '../../../src/core/chat.js';
import { progressedJob } from '../../../src/app/ingest/checkpoint.js';
import { handleLine, handleSlice } from '../../../src/app/ingest/handleLine.js';
import { IngestLeaseLostError } from '../../../src/app/ingest/ingestLease.js';
import { IngestRun } from '../../../src/app/ingest/IngestRun.js';
import { tallyFrom, FILE_START } from '../../../src/app/ingest/IngestTally.js';
import { addMaxCompletionTokens, addPromptTokens } from '../../../src/app/ingest/promptTokens.js';
import { dispatch } from '../../../src/app/ingest/sendMessages.js';
import { INGEST_MAX_SEND_BATCHES_IN_FLIGHT } from '../../../src/app/tuning.js';
import { chatLine, createWorld } from '../fixtures.js';

type World = ReturnType<typeof createWorld>;

const JOB_ID = `job_${'a'.repeat(32)}`;

function jobFor(world: World, overrides: Partial<Job> = {}): Job {
  const job = newJob({
    id: JOB_ID,
    createdAtInMs: world.clock.nowInMs(),
    input: { container: 'batch-input', name: 'in.jsonl', etag: '"0x1"', size: 1000 },
    model: 'Phi-3-mini-4k-instruct',
    deployment: 'test',
  });
  return { ...job, ingestLease: { owner: 'me', untilInMs: world.clock.nowInMs() + 60_000 }, ...overrides };
}

function runFor(world: World, job: Job, settings: { chunkLines?: number; exactTokenLines?: number } = {}): IngestRun {
  const { chunkLines = 1000, exactTokenLines = 1000 } = settings;
  const deps = { ...world.ingestDeps, chunkLines, exactTokenLines };
  return new IngestRun({ job, owner: 'me', firstReader: true }, new CustomIdSet(), deps);
}

function handleAll(run: IngestRun, world: World, texts: readonly string[]): void {
  for (const raw of rawLines(...texts)) handleLine(run, raw, world.ingestDeps);
}

/** Raw lines as the splitter gives them, each line's offset right after the previous one and its newline. */
function rawLines(...texts: string[]): RawLine[] {
  let byteOffset = 0;
  return texts.map((text, index) => {
    const bytes = Buffer.from(text);
    const line = { lineNumber: index + 1, byteOffset, byteLength: bytes.length, bytes };
    byteOffset += bytes.length + 1;
    return line;
  });
}

function body(content: string, maxTokens?: number | null): ChatCompletionBody {
  const messages = [{ role: 'user' as const, content }];
  return maxTokens === undefined ? { messages } : { messages, max_tokens: maxTokens };
}

describe('token sampling', () => {
  const tenPerLine: TokenCounter = { countText: () => 10, countChatPrompt: () => 10 };

  it('counts the first lines exactly and estimates later ones from their length at the sampled rate', () => {
    const tally = tallyFrom(FILE_START);
    addPromptTokens(tally, body('x'.repeat(20)), tenPerLine, 2);
    addPromptTokens(tally, body('x'.repeat(20)), tenPerLine, 2);
    expect(tally).toMatchObject({ estimatedPromptTokens: 20, sampledTokens: 20, sampledChars: 40, sampledLines: 2 });
    // Half a token per character, as sampled: a line twice as long is estimated at twice the tokens.
    addPromptTokens(tally, body('x'.repeat(40)), tenPerLine, 2);
    expect(tally).toMatchObject({ estimatedPromptTokens: 40, sampledLines: 2 });
  });

  it('estimates at a quarter token per character when no line is counted exactly', () => {
    const tally = tallyFrom(FILE_START);
    addPromptTokens(tally, body('x'.repeat(40)), tenPerLine, 0);
    expect(tally.estimatedPromptTokens).toBe(10);
  });

  it('reserves max_tokens, or the default for a line without it, and counts the defaults', () => {
    const tally = tallyFrom(FILE_START);
    addMaxCompletionTokens(tally, body('a', 50), 100);
    addMaxCompletionTokens(tally, body('b'), 100);
    addMaxCompletionTokens(tally, body('c', null), 100);
    expect(tally).toMatchObject({ maxCompletionTokens: 250, defaultMaxTokensApplied: 2 });
  });
});

describe('line handling', () => {
  it('packs requests, gives invalid lines an outcome and a place among the job errors, only counts blank ones', () => {
    const world = createWorld();
    const run = runFor(world, jobFor(world));
    handleAll(run, world, [chatLine('a', 'one'), '', '{broken', chatLine('a', 'duplicate')]);
    run.outgoing.push(...run.packer.flush());

    expect(run.tally).toMatchObject({ linesRead: 4, requests: 1, invalid: 2 });
    expect(run.outgoing.flatMap((m) => m.items.map((i) => i.line))).toEqual([1]);
    expect(run.directOutcomes.map((o) => [o.line, o.status, o.error?.code])).toEqual([
      [3, 'failed', 'invalid_json_line'],
      [4, 'failed', 'duplicate_custom_id'],
    ]);
    expect(run.errors.map((e) => e.line)).toEqual([3, 4]);
  });

  it('keeps at most MAX_ERRORS_ON_JOB errors on the job, each line once', () => {
    const world = createWorld();
    const run = runFor(world, jobFor(world));
    handleAll(
      run,
      world,
      Array.from({ length: MAX_ERRORS_ON_JOB + 5 }, () => '{'),
    );
    expect(run.errors).toHaveLength(MAX_ERRORS_ON_JOB);
    expect(run.directOutcomes).toHaveLength(MAX_ERRORS_ON_JOB + 5);
  });

  it('sends nothing for a cancelled job: its requests get a batch_cancelled outcome instead', () => {
    const world = createWorld();
    const run = runFor(world, jobFor(world));
    run.cancelled = true;
    handleAll(run, world, [chatLine('a', 'one'), chatLine('b', 'two')]);
    run.outgoing.push(...run.packer.flush());
    expect(run.outgoing).toEqual([]);
    expect(run.directOutcomes.map((o) => [o.line, o.status, o.error?.code])).toEqual([
      [1, 'cancelled', 'batch_cancelled'],
      [2, 'cancelled', 'batch_cancelled'],
    ]);
    expect(run.tally.requests).toBe(2);
  });

  it('ends the chunk after chunkLines lines, where the next line starts', () => {
    const world = createWorld();
    const run = runFor(world, jobFor(world), { chunkLines: 2 });
    const lines = rawLines(chatLine('a', 'one'), chatLine('b', 'two'), chatLine('c', 'three'));
    handleSlice(run, lines, world.ingestDeps);
    expect(run.tally.linesRead).toBe(2);
    expect(run.chunkEnd).toEqual({ byteOffset: lines[2]!.byteOffset, lineNumber: 3 });
  });
});

describe('sending', () => {
  /** A request queue whose sends stay under way until released, in order. */
  function heldQueue() {
    const held: Array<{ payloads: readonly unknown[]; release: () => void }> = [];
    return {
      held,
      queue: {
        async ensureExists(): Promise<void> {},
        send(payloads: readonly unknown[]): Promise<void> {
          return new Promise<void>((resolve) => held.push({ payloads, release: resolve }));
        },
      },
    };
  }

  /** A run whose outgoing list holds `count` packed messages of four lines each. */
  async function runWithMessages(world: World, count: number, job = jobFor(world)): Promise<IngestRun> {
    const run = runFor(world, job);
    handleAll(
      run,
      world,
      Array.from({ length: count * 4 }, (_, i) => chatLine(`r${i}`, `p${i}`)),
    );
    run.outgoing.push(...run.packer.flush());
    return run;
  }

  it('leaves a few batches under way while reading goes on, and waits for the oldest past that', async () => {
    const world = createWorld();
    const { held, queue } = heldQueue();
    const deps = { ...world.ingestDeps, requestQueue: queue };
    const run = await runWithMessages(world, INGEST_MAX_SEND_BATCHES_IN_FLIGHT);
    const messages = run.outgoing;
    for (const message of messages.slice(0, -1)) {
      run.outgoing = [message];
      await dispatch(run, deps);
    }
    expect(run.inFlight).toHaveLength(INGEST_MAX_SEND_BATCHES_IN_FLIGHT - 1);

    run.outgoing = messages.slice(-1);
    let returned = false;
    const dispatching = dispatch(run, deps).then(() => (returned = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(returned).toBe(false);
    held[0]!.release();
    await dispatching;
    expect(held).toHaveLength(INGEST_MAX_SEND_BATCHES_IN_FLIGHT);
    expect(run.inFlight).toHaveLength(INGEST_MAX_SEND_BATCHES_IN_FLIGHT - 1);
  });

  it('does not send again what an earlier run of the chunk sent, and moves the message count past it', async () => {
    const world = createWorld();
    const job = jobFor(world);
    const run = await runWithMessages(world, 3, { ...job, ingest: { ...job.ingest, messagesSent: 2 } });
    await dispatch(run, world.ingestDeps);
    await Promise.all(run.inFlight);
    expect(world.requestQueue.sent.map((m) => (m.payload as { seq: number }).seq)).toEqual([2]);
    expect(run.messagesSent).toBe(3);
  });

  it('records the chosen deployment on the job before its first message goes out', async () => {
    const world = createWorld();
    const job = jobFor(world, { deployment: '' });
    await world.jobs.createJob(job);
    const run = await runWithMessages(world, 1, job);
    let deploymentAtSend: string | undefined;
    const requestQueue = {
      async ensureExists(): Promise<void> {},
      async send(): Promise<void> {
        deploymentAtSend = (await world.jobs.getJob(JOB_ID))?.job.deployment;
      },
    };
    await dispatch(run, { ...world.ingestDeps, requestQueue });
    await Promise.all(run.inFlight);
    expect(deploymentAtSend).toBe('test');
  });

  it('turns the messages of a cancelled job into batch_cancelled outcomes instead of sending them', async () => {
    const world = createWorld();
    const run = await runWithMessages(world, 1);
    run.cancelled = true;
    await dispatch(run, world.ingestDeps);
    expect(world.requestQueue.sent).toEqual([]);
    expect(run.directOutcomes.map((o) => o.status)).toEqual(['cancelled', 'cancelled', 'cancelled', 'cancelled']);
  });
});

describe('checkpoint record', () => {
  it('renews the lease while reading, lets it go at a chunk or file end, starts the job once a message is out', () => {
    const world = createWorld();
    const job = jobFor(world);
    const run = runFor(world, job);
    run.messagesSent = 1;
    world.clock.now += 1000;
    const reading = progressedJob(job, run, 'reading', undefined, world.ingestDeps);
    expect(reading.ingestLease).toEqual({ owner: 'me', untilInMs: world.clock.nowInMs() + 5 * 60_000 });
    expect(reading.status).toBe(JobStatus.inProgress);
    expect(reading.timestamps.inProgressAt).toBe(world.clock.nowInMs());
    expect(progressedJob(job, run, 'chunk-end', undefined, world.ingestDeps).ingestLease).toBeUndefined();
    expect(progressedJob(job, run, 'done', undefined, world.ingestDeps).ingest.done).toBe(true);
  });

  it('refuses to record for a run whose lease another reader took over', () => {
    const world = createWorld();
    const job = jobFor(world);
    const run = runFor(world, job);
    const takenOver = { ...job, ingestLease: { owner: 'someone else', untilInMs: world.clock.nowInMs() + 60_000 } };
    expect(() => progressedJob(takenOver, run, 'reading', undefined, world.ingestDeps)).toThrow(IngestLeaseLostError);
  });
});
