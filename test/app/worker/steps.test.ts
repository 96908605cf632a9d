import { describe, expect, it } from 'vitest';
import { endpointHttpError, toChatCompletionResult } from '../../../src/adapters/phi3/phi3Answer.js';
import { BudgetMeter, type BudgetHold } from '../../../src/app/budgetSpend.js';
import { JobSpendMeter } from '../../../src/app/jobSpend.js';
import {
  ConnectionError,
  LedgerState,
  MalformedResponseError,
  TimeoutError,
  type ChatCompletionResult,
  type LedgerEntry,
} from '../../../src/app/ports.js';
import { concludeFailure, decideAfterFailure } from '../../../src/app/worker/concludeAttempt.js';
import { startLine } from '../../../src/app/worker/LineState.js';
import type { MessageRun } from '../../../src/app/worker/MessageRun.js';
import { runLine, stopBeforeSending } from '../../../src/app/worker/runLine.js';
import { feedBudget, settleCall } from '../../../src/app/worker/settleCall.js';
import type { Job } from '../../../src/core/job.js';
import type { RequestMessage } from '../../../src/core/requestMessage.js';
import { createWorld, okResponse } from '../fixtures.js';

/* The worker's steps one at a time, over a world of in-memory ports. */

const message: RequestMessage = {
  v: 1,
  kind: 'requests',
  jobId: 'job-1',
  seq: 0,
  input: { container: 'c', name: 'n', etag: 'e' },
  items: [],
};
const item = { line: 4, id: 'line-4', body: { messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 } } as const;

function setUp() {
  const world = createWorld();
  const job = { id: 'job-1' } as Job;
  const spend = new JobSpendMeter(job, world.workerDeps);
  const deployment = world.workerDeps.deployments.primary;
  const budgets = new BudgetMeter(job, undefined);
  const run: MessageRun = {
    message,
    job,
    deployment,
    guard: { halt: undefined },
    deps: world.workerDeps,
    spend,
    budgets,
  };
  const line = startLine(item, item.body, 100);
  return { world, run, line, spend };
}

let calls = 0;

async function openCall(
  _world: ReturnType<typeof createWorld>,
  spend: JobSpendMeter,
): Promise<{ reservation: { amountInNanos: number }; budgetHold: BudgetHold; sent: LedgerEntry }> {
  const sent: LedgerEntry = {
    id: `call-${(calls += 1)}`,
    jobId: 'job-1',
    line: 4,
    attempt: 1,
    deployment: 'test',
    model: 'Phi-3-mini-4k-instruct',
    state: LedgerState.sent,
    httpStatus: 0,
    requestId: '',
    promptTokens: 0,
    completionTokens: 0,
    reservedTokens: 20,
    atInMs: 0,
    day: '2026-11-27',
    inputPerMillion: 0,
    outputPerMillion: 0,
    currency: 'USD',
    costInNanos: 0,
  };
  await spend.open(sent);
  return { reservation: { amountInNanos: 0 }, budgetHold: { holds: [] }, sent };
}

const completion = (): ChatCompletionResult => toChatCompletionResult(okResponse(item.body), 0);
const httpError = (status: number, body: unknown = {}, headers: Record<string, string> = {}) =>
  endpointHttpError(status, body, headers, { requestId: `req-${status}`, latencyInMs: 1, nowInMs: 0 });

describe('settleCall', () => {
  it('bills a completion: the ledger entry settled with its usage, status, request id and price', async () => {
    const { world, run, spend } = setUp();
    const call = await openCall(world, spend);
    const cost = await settleCall(run, call, completion(), world.clock.nowInMs());
    const [entry] = world.ledger.entries.values();
    expect(entry).toMatchObject({
      state: 'billed',
      httpStatus: 200,
      promptTokens: 10,
      completionTokens: 5,
      costInNanos: cost,
    });
    expect(cost).toBeGreaterThan(0);
  });

  it('discards the entry of an answer that shows no billing, keeps it unconfirmed when the call may have been billed', async () => {
    const { world, run, spend } = setUp();
    const now = world.clock.nowInMs();
    const notBilled = [httpError(500), httpError(429), new ConnectionError('refused', true, 1)];
    const unconfirmed = [
      new TimeoutError(1),
      new ConnectionError('reset', false, 1),
      new MalformedResponseError({ status: 200, requestId: '', body: '<html>' }, 'html', 1, {}),
    ];
    for (const answer of [...notBilled, ...unconfirmed])
      await settleCall(run, await openCall(world, spend), answer, now);
    expect([...world.ledger.entries.values()].map((e) => e.state)).toEqual(['sent', 'sent', 'sent']);
    expect(world.ledger.entries.size).toBe(unconfirmed.length);
  });

  it('bills an error answer that reported usage', async () => {
    const { world, run, spend } = setUp();
    const answer = httpError(400, {
      error: { code: 'content_filter' },
      usage: { prompt_tokens: 6, completion_tokens: 0 },
    });
    await settleCall(run, await openCall(world, spend), answer, world.clock.nowInMs());
    expect([...world.ledger.entries.values()]).toMatchObject([
      { state: 'billed', httpStatus: 400, requestId: 'req-400', promptTokens: 6 },
    ]);
  });
});

describe('feedBudget', () => {
  it('corrects the budget from every answer with rate-limit figures, and pauses it on a 429 for at most the re-queue cap', () => {
    const { world } = setUp();
    const retry = world.workerDeps.retry;
    feedBudget(
      world.limiter,
      httpError(429, {}, { 'retry-after': '86400', 'x-ratelimit-remaining-tokens': '-40' }),
      1_000,
      retry,
    );
    feedBudget(world.limiter, httpError(429), 2_000, retry);
    feedBudget(world.limiter, new TimeoutError(1), 3_000, retry);
    expect(world.limiter.corrections).toEqual([
      { requests: undefined, tokens: -40 },
      { requests: undefined, tokens: undefined },
    ]);
    expect(world.limiter.pauses).toEqual([1_000 + retry.maxRequeueDelayInMs, 2_000 + retry.baseDelayInMs]);
  });
});

describe('concludeFailure', () => {
  it('retries a 5xx here after a jittered back-off and counts it; a 429 retries without sleeping and does not count', () => {
    const { run, line } = setUp();
    const server = httpError(503);
    expect(concludeFailure(run, line, server, decideAfterFailure(run, line, server), 0)).toEqual({
      kind: 'retry',
      sleepInMs: 75,
    });
    expect(line.failedAttempts).toBe(1);
    const throttled = httpError(429, {}, { 'retry-after-ms': '50' });
    expect(concludeFailure(run, line, throttled, decideAfterFailure(run, line, throttled), 0)).toEqual({
      kind: 'retry',
      sleepInMs: undefined,
    });
    expect(line.failedAttempts).toBe(1);
  });

  it('re-queues a line asked to wait longer than a function should, saying why', () => {
    const { run, line } = setUp();
    const throttled = httpError(429, {}, { 'retry-after': '60' });
    expect(concludeFailure(run, line, throttled, decideAfterFailure(run, line, throttled), 0)).toEqual({
      kind: 'requeue',
      item: { ...item, prior: 0 },
      delayInMs: 60_000,
      reason: 'the endpoint asked to retry after 60 s',
    });
  });

  it('fails a refused line with the endpoint answer and code; a 401 halts the message', () => {
    const { run, line } = setUp();
    line.attempts = 1;
    const refused = httpError(401, { error: { code: 'Unauthorized', message: 'Access denied' } });
    const result = concludeFailure(run, line, refused, decideAfterFailure(run, line, refused), 7);
    expect(result).toMatchObject({
      kind: 'outcome',
      outcome: {
        status: 'failed',
        attempts: 1,
        error: { code: 'Unauthorized', message: 'Access denied' },
        response: { status_code: 401, request_id: 'req-401' },
      },
    });
    expect(run.guard.halt).toMatchObject({ code: 'deployment_rejected', atInMs: 7 });
  });
});

describe('stopBeforeSending', () => {
  it('stops a line of a halted message, and re-queues one while the budget is paused for long', () => {
    const { world, run, line } = setUp();
    expect(stopBeforeSending(run, line)).toBeUndefined();
    world.limiter.pauseUntil(world.clock.nowInMs() + 60_000);
    expect(stopBeforeSending(run, line)).toMatchObject({
      kind: 'requeue',
      delayInMs: 60_000,
      reason: 'the deployment budget is paused by the endpoint',
    });
    run.guard.halt = { code: 'deployment_rejected', message: 'bad key', atInMs: 0 };
    expect(stopBeforeSending(run, line)).toMatchObject({
      kind: 'outcome',
      outcome: { error: { code: 'batch_halted', message: 'Not sent: bad key' } },
    });
  });
});

describe('sendAttempt without a free call slot', () => {
  it('sends the line back to the queue when its wait runs out: nothing reserved, nothing in the ledger', async () => {
    const { world, run, line } = setUp();
    // Call slots whose wait always runs out: the line is one an instance holds beyond what its calls need.
    const deps = {
      ...world.workerDeps,
      callSlots: <T>(_task: () => Promise<T>, limit?: { value: () => T }) => Promise.resolve(limit!.value()),
    };
    const result = await runLine({ ...run, deps }, line.item, line.body);
    expect(result).toMatchObject({
      kind: 'requeue',
      delayInMs: 5_000,
      reason: 'every call slot of the instance stayed taken',
    });
    const entries: unknown[] = [];
    for await (const entry of world.workerDeps.ledger.listEntries('job-1')) entries.push(entry);
    expect(entries).toEqual([]);
    expect(world.limiter.acquired).toBe(0);
  });
});
