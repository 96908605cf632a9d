import { describe, expect, it } from 'vitest';
import { ingestBlob } from '../../../src/app/ingestBlob.js';
import { noMetrics, type ChatCompleteOptions, type ChatCompletionResult } from '../../../src/app/ports.js';
import { processRequestMessage } from '../../../src/app/processRequestMessage.js';
import { WatchedEndpointCalls } from '../../../src/app/worker/EndpointCalls.js';
import type { ChatCompletionBody } from '../../../src/core/chat.js';
import { DEFAULT_CALL_TIME_LIMIT_OPTIONS, StreamMode } from '../../../src/core/callTimeout.js';
import { toChatCompletionResult, type Phi3HttpAnswer } from '../../../src/adapters/phi3/phi3Answer.js';
import { requestMessageOf } from '../../support/requestMessageOf.js';
import { chatLine, createWorld, okResponse } from '../fixtures.js';

/*
 * Each call's time limit fits what it may generate, at the deployment's measured speed, and a line
 * whose calls time out is tried again only while what those calls may have cost fits its limit
 * (decision 0010). On in-memory ports and an injected clock.
 */

/** A chat client that answers as `answer` says and records each call's time limit. */
class LimitRecordingChat {
  readonly limits: Array<number | undefined> = [];
  readonly streamed: boolean[] = [];
  constructor(
    private readonly clock: { nowInMs(): number },
    private readonly answer: (body: ChatCompletionBody) => Phi3HttpAnswer,
  ) {}
  async complete(body: ChatCompletionBody, options: ChatCompleteOptions = {}): Promise<ChatCompletionResult> {
    this.limits.push(options.timeoutInMs);
    this.streamed.push(options.stream !== undefined);
    return toChatCompletionResult(this.answer(body), this.clock.nowInMs());
  }
  async close(): Promise<void> {}
}

const file = (n: number, maxTokens: number) =>
  Array.from({ length: n }, (_, i) => chatLine(`id-${i + 1}`, `prompt ${i + 1}`, { max_tokens: maxTokens })).join('\n');

async function runJob(
  lines: number,
  maxTokens: number,
  answer: (body: ChatCompletionBody) => Phi3HttpAnswer,
  spend?: number,
  streamMode?: StreamMode,
) {
  const clock = { nowInMs: (): number => 0 };
  const chat = new LimitRecordingChat(clock, answer);
  const world = createWorld(chat);
  clock.nowInMs = () => world.clock.nowInMs();
  const calls = new WatchedEndpointCalls({
    clock: world.clock,
    metrics: noMetrics,
    timeLimits: DEFAULT_CALL_TIME_LIMIT_OPTIONS,
    unconfirmedSpendPerLineInNanos: spend ?? 1_000_000_000,
    ...(streamMode === undefined ? {} : { streamMode }),
  });
  const workerDeps = { ...world.workerDeps, calls };
  world.blobs.put('batch-input', 'in.jsonl', file(lines, maxTokens));
  const ingested = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
  const jobId = ingested.kind === 'ingested' ? ingested.jobId : '';
  // One message after the other: each sees the speed its predecessors measured.
  for (const payload of world.requestQueue.drain()) await processRequestMessage(requestMessageOf(payload), workerDeps);
  const outcomes = [];
  for await (const outcome of world.jobs.listOutcomes(jobId)) outcomes.push(outcome);
  return { chat, world, jobId, outcomes };
}

describe("calls' time limits", () => {
  it("start at the slowest planned speed, then follow the deployment's measured speed", async () => {
    // Answers of 5 tokens in 3 ms: 0.6 ms a token, far faster than the 5 tokens/s planned for.
    const { chat } = await runJob(12, 1_000, (body) => okResponse(body));
    // Before 5 answers: 30 s to the first token + 1,000 tokens at 5 tokens/s = 230 s.
    expect(chat.limits.slice(0, 8)).toEqual(Array(8).fill(230_000));
    // Then 2 x 1,000 x 0.6 ms, but never under the 30 s floor.
    expect(chat.limits.slice(8)).toEqual(Array(4).fill(30_000));
  });

  it('PHI3_STREAM=auto: streamed until the speed is measured, then plain calls for a fast deployment', async () => {
    const { chat } = await runJob(12, 1_000, (body) => okResponse(body), undefined, StreamMode.auto);
    expect(chat.streamed).toEqual([...Array(8).fill(true), ...Array(4).fill(false)]);
    // A streamed call has idle limits; its whole-answer limit goes along only for a plain call made instead
    // (a deployment that refuses to stream).
    expect(chat.limits.slice(0, 8)).toEqual(Array(8).fill(230_000));
    expect(chat.limits.slice(8)).toEqual(Array(4).fill(30_000));
  });

  it('stay with the client when no time limits are configured', async () => {
    const world = createWorld(new LimitRecordingChat({ nowInMs: () => 0 }, okResponse));
    expect(world.workerDeps.calls.timeLimitInMs('test', 1_000, 0)).toBeUndefined();
  });
});

describe('retries after a timeout', () => {
  const timeout = (): Phi3HttpAnswer => ({ kind: 'timeout', latencyInMs: 1 });

  it('are bounded by what a timed-out call may have cost: billed-unconfirmed, not tried again past the limit', async () => {
    // Phi-3-mini at $0.13 / $0.52 per 1M: 2,000 max_tokens cost at most ~1,040,000 nanodollars a call.
    const { chat, world, jobId, outcomes } = await runJob(2, 2_000, timeout, 1_500_000);
    expect(chat.limits).toHaveLength(2);
    expect(outcomes.map((o) => [o.status, o.attempts, o.error?.code])).toEqual([
      ['failed', 1, 'retries_exhausted'],
      ['failed', 1, 'retries_exhausted'],
    ]);
    const job = (await world.jobs.getJob(jobId))!.job;
    expect(job.spend?.unconfirmedCalls).toBe(2);
  });

  it('are made up to the retry policy when the limit allows', async () => {
    const { chat, outcomes } = await runJob(1, 2_000, timeout);
    expect(outcomes.map((o) => [o.status, o.attempts])).toEqual([['failed', 3]]);
    expect(chat.limits).toHaveLength(3);
  });
});
