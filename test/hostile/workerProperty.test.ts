import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSeededRandom } from '../../dev/simulator/seededRandom.js';
import { parseControlMessage } from '../../src/core/controlMessage.js';
import { finalizeJob } from '../../src/app/finalizeJob.js';
import type { IngestDeps } from '../../src/app/ingestBlob.js';
import type { Phi3HttpAnswer } from '../../src/adapters/phi3/phi3Answer.js';
import { processRequestMessage } from '../../src/app/processRequestMessage.js';
import { retryFailedLines } from '../../src/app/retryFailedLines.js';
import { sweep } from '../../src/app/sweep.js';
import type { ChatCompletionBody } from '../../src/core/chat.js';
import type { LineOutcome } from '../../src/core/lineOutcome.js';
import { requestMessageOf } from '../support/requestMessageOf.js';
import { createWorld, okResponse, ScriptedChatClient } from '../app/fixtures.js';
import { ingestAll, jobIdOf, outcomesOf, type World } from './hostileFiles.js';
import { ledgerTotals } from '../../src/app/ledgerTotals.js';

/*
 * The endpoint misbehaves at random, messages arrive in any order and more than once, and the worker
 * dies part-way through recording: every line still ends with exactly one outcome, the first one
 * recorded stays, the job's counts are exact once it is final, and every billed call is in the ledger.
 */

const Behaviour = {
  ok: 'ok',
  okNegativeRemaining: 'ok-negative-remaining',
  badRequest: 'bad-request',
  unprocessable: 'unprocessable',
  serverError: 'server-error',
  serviceUnavailable: 'service-unavailable',
  timeout: 'timeout',
  network: 'network',
  throttled: 'throttled',
  throttledMs: 'throttled-ms',
  throttledLong: 'throttled-long',
  throttledDate: 'throttled-date',
  htmlError: 'html-error',
  unauthorized: 'unauthorized',
} as const;
type Behaviour = (typeof Behaviour)[keyof typeof Behaviour];

function answer(behaviour: Behaviour, body: ChatCompletionBody, nowInMs: number): Phi3HttpAnswer {
  const error = (status: number, code: string, headers: Record<string, string> = {}): Phi3HttpAnswer => ({
    kind: 'response',
    status,
    headers,
    body: { error: { code, message: `scripted ${code}` } },
    requestId: `req-${status}`,
    latencyInMs: 1,
  });
  switch (behaviour) {
    case 'ok':
      return okResponse(body);
    case 'ok-negative-remaining': {
      const ok = okResponse(body);
      return {
        ...ok,
        headers: { 'x-ratelimit-remaining-tokens': '-4000', 'x-ratelimit-remaining-requests': '-3' },
      } as Phi3HttpAnswer;
    }
    case 'bad-request':
      return error(400, 'content_filter');
    case 'unprocessable':
      return error(422, 'invalid_value');
    case 'server-error':
      return error(500, 'InternalServerError');
    case 'service-unavailable':
      return error(503, 'ServiceUnavailable', { 'retry-after': '1' });
    case 'timeout':
      return { kind: 'timeout', latencyInMs: 5 };
    case 'network':
      return { kind: 'network', message: 'SocketError: other side closed', neverSent: false, latencyInMs: 1 };
    case 'throttled':
      return error(429, '429', { 'retry-after': '2' });
    case 'throttled-ms':
      return error(429, '429', { 'retry-after-ms': '750' });
    case 'throttled-long':
      return error(429, '429', { 'retry-after': '86400' });
    case 'throttled-date':
      return error(429, '429', { 'retry-after': new Date(nowInMs + 3_000).toUTCString() });
    case 'html-error':
      return {
        kind: 'response',
        status: 502,
        headers: {},
        body: '<html>Bad gateway</html>',
        requestId: '',
        latencyInMs: 1,
      };
    case 'unauthorized':
      return error(401, 'Unauthorized');
  }
}

const behaviourArb: fc.Arbitrary<Behaviour> = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom<Behaviour>('ok', 'ok-negative-remaining') },
  {
    weight: 6,
    arbitrary: fc.constantFrom<Behaviour>(
      'bad-request',
      'unprocessable',
      'server-error',
      'service-unavailable',
      'timeout',
      'network',
      'html-error',
    ),
  },
  { weight: 4, arbitrary: fc.constantFrom<Behaviour>('throttled', 'throttled-ms', 'throttled-long', 'throttled-date') },
  { weight: 1, arbitrary: fc.constant<Behaviour>('unauthorized') },
);

type Crash = 'none' | 'before-write' | 'after-write' | 'after-counters';

interface Scenario {
  readonly lines: number;
  readonly invalidEvery: number;
  readonly behaviours: readonly Behaviour[];
  readonly crashes: readonly Crash[];
  readonly maxItemsPerMessage: number;
  readonly inlineBodies: boolean;
  readonly seed: number;
  readonly redeliveryRate: number;
}

interface Pending {
  readonly payload: unknown;
  availableAtInMs: number;
}

async function runScenario(scenario: Scenario): Promise<{ world: World; jobId: string; ingestDeps: IngestDeps }> {
  const chat = new ScriptedChatClient((body, call) =>
    answer(scenario.behaviours[call - 1] ?? 'ok', body, world.clock.now),
  );
  const world: World = createWorld(chat);
  // The delivery order and the redeliveries, from one seed fast-check chooses.
  const rng = createSeededRandom(scenario.seed);
  const invalid = (i: number): boolean =>
    scenario.invalidEvery > 0 && i % scenario.invalidEvery === scenario.invalidEvery - 1;
  const text = Array.from({ length: scenario.lines }, (_, i) =>
    invalid(i)
      ? `{"custom_id": "bad-${i}", "messages": "not a list"}`
      : JSON.stringify({ custom_id: `r-${i}`, messages: [{ role: 'user', content: `prompt ${i}` }], max_tokens: 5 }),
  ).join('\n');
  world.blobs.put('batch-input', 'w.jsonl', text);
  const ingestDeps: IngestDeps = {
    ...world.ingestDeps,
    packing: {
      maxMessageBytes: 4096,
      maxItemsPerMessage: scenario.maxItemsPerMessage,
      inlineBodies: scenario.inlineBodies,
    },
  };
  const jobId = jobIdOf(await ingestAll(ingestDeps, world, 'w.jsonl'));

  // From here on, recording may die: before the write, between the write and the counters, or after both.
  const created: LineOutcome[] = [];
  let recordCalls = 0;
  const realRecord = world.jobs.recordOutcomes.bind(world.jobs);
  const realCounters = world.jobs.addToJobCounters.bind(world.jobs);
  let crashAfterCounters = false;
  world.jobs.recordOutcomes = async (outcomes) => {
    const crash = scenario.crashes[recordCalls] ?? 'none';
    recordCalls += 1;
    if (crash === 'before-write') throw new Error('worker died before writing outcomes');
    const made = await realRecord(outcomes);
    created.push(...made);
    if (crash === 'after-write') throw new Error('worker died after writing outcomes');
    crashAfterCounters = crash === 'after-counters';
    return made;
  };
  world.jobs.addToJobCounters = async (id, delta, now) => {
    const stored = await realCounters(id, delta, now);
    if (crashAfterCounters) {
      crashAfterCounters = false;
      throw new Error('worker died after updating counters');
    }
    return stored;
  };

  const work: Pending[] = [];
  const control: Pending[] = [];
  const collect = (): void => {
    for (const m of world.requestQueue.sent.splice(0))
      work.push({ payload: m.payload, availableAtInMs: world.clock.now + m.visibilityDelayInMs });
    for (const m of world.controlQueue.sent.splice(0))
      control.push({ payload: m.payload, availableAtInMs: world.clock.now + m.visibilityDelayInMs });
  };
  const terminal = async (): Promise<boolean> =>
    ['completed', 'failed', 'cancelled'].includes((await world.jobs.getJob(jobId))!.job.status);

  let sweeps = 0;
  for (let step = 0; ; step += 1) {
    if (step > 3_000) throw new Error('the job never settled');
    collect();
    if (work.length === 0 && control.length === 0) {
      if (await terminal()) break;
      // Nothing left to deliver and the job is not final: the sweeper's timer, after a stall.
      sweeps += 1;
      if (sweeps > 20) throw new Error('the sweeper could not bring the job to an end');
      world.clock.now += 16 * 60_000;
      await sweep(ingestDeps, { stallInMs: 15 * 60_000 });
      continue;
    }
    const fromControl = control.length > 0 && (work.length === 0 || rng() < 0.3);
    const pool = fromControl ? control : work;
    const index = Math.floor(rng() * pool.length);
    const pending = pool[index]!;
    // A message comes back when its visibility delay is over: time moves on to then.
    world.clock.now = Math.max(world.clock.now, pending.availableAtInMs);
    let delivered = true;
    try {
      if (fromControl) {
        const message = parseControlMessage(pending.payload);
        if (typeof message !== 'string' && message.kind === 'finalize')
          await finalizeJob(message.jobId, world.finalizeDeps);
      } else {
        await processRequestMessage(requestMessageOf(pending.payload), world.workerDeps);
      }
    } catch (error) {
      if (!/worker died/.test((error as Error).message)) throw error;
      delivered = false;
      // Not acknowledged: back after the queue's visibility timeout.
      pending.availableAtInMs = world.clock.now + 10 * 60_000;
    }
    // At-least-once: an acknowledged message can still come again.
    if (delivered && rng() >= scenario.redeliveryRate) pool.splice(index, 1);
  }

  const job = (await world.jobs.getJob(jobId))!.job;
  const outcomes = await outcomesOf(world, jobId);
  expect(outcomes.map((o) => o.line)).toEqual(Array.from({ length: scenario.lines }, (_, i) => i + 1));
  // The first outcome recorded for a line is the one that stays; none was recorded twice.
  // (Invalid lines got theirs at ingest, before any of this.)
  const requestLines = Array.from({ length: scenario.lines }, (_, i) => i)
    .filter((i) => !invalid(i))
    .map((i) => i + 1);
  expect(created.map((o) => o.line).sort((a, b) => a - b)).toEqual(requestLines);
  for (const outcome of created) expect(outcomes[outcome.line - 1]).toEqual(outcome);
  const succeeded = outcomes.filter((o) => o.status === 'succeeded').length;
  expect(job.counts).toEqual({ succeeded, failed: scenario.lines - succeeded });
  expect(job.status).toBe(job.halt !== undefined || job.ingest.requests === 0 ? 'failed' : 'completed');
  const lines = async (name: string) =>
    ((await world.blobs.download('batch-output', `${jobId}/${name}`))?.toString('utf8') ?? '')
      .split('\n')
      .filter(Boolean);
  expect(await lines('results.jsonl')).toHaveLength(succeeded);
  expect(await lines('errors.jsonl')).toHaveLength(scenario.lines - succeeded);
  // Every call that was billed is in the ledger and in the job's usage, repeats included; so is every
  // call whose answer never came (unconfirmed: it may have been billed). Refused calls are not.
  const behaviourOf = (i: number): Behaviour => scenario.behaviours[i] ?? 'ok';
  const billed = chat.calls.filter((_, i) => ['ok', 'ok-negative-remaining'].includes(behaviourOf(i))).length;
  const unanswered = chat.calls.filter((_, i) => ['timeout', 'network'].includes(behaviourOf(i))).length;
  const totals = await ledgerTotals(world.ledger, jobId);
  expect([totals.calls, totals.unconfirmedCalls]).toEqual([billed + unanswered, unanswered]);
  expect(job.usage.promptTokens).toBe(10 * billed);
  for (const o of outcomes) if (o.status === 'succeeded') expect(o.attempts).toBeGreaterThanOrEqual(1);
  return { world, jobId, ingestDeps };
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  lines: fc.integer({ min: 1, max: 24 }),
  invalidEvery: fc.constantFrom(0, 0, 3, 7),
  behaviours: fc.array(behaviourArb, { maxLength: 60 }),
  crashes: fc.array(fc.constantFrom<Crash>('none', 'none', 'none', 'before-write', 'after-write', 'after-counters'), {
    maxLength: 12,
  }),
  maxItemsPerMessage: fc.integer({ min: 1, max: 6 }),
  inlineBodies: fc.boolean(),
  seed: fc.integer(),
  redeliveryRate: fc.constantFrom(0, 0.1, 0.3),
});

describe('the worker under a misbehaving endpoint, redelivery and crashes (in-memory ports)', () => {
  it('each line ends with exactly one outcome and the counts are exact (property)', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        await runScenario(scenario);
      }),
      { numRuns: 150 },
    );
  });

  it('a line whose 5xx outlasted every attempt is sent again by retry?retryable_only=true, whatever code the body named', async () => {
    const behaviours: Behaviour[] = [
      'server-error',
      'server-error',
      'server-error',
      'html-error',
      'html-error',
      'html-error',
      'bad-request',
    ];
    const { world, jobId, ingestDeps } = await runScenario({
      lines: 3,
      invalidEvery: 0,
      behaviours,
      crashes: [],
      maxItemsPerMessage: 1,
      inlineBodies: false,
      seed: 7,
      redeliveryRate: 0,
    });
    const failures = (await outcomesOf(world, jobId)).map((o) => [o.error?.code, o.response?.status_code, o.attempts]);
    expect(failures.sort((a, b) => Number(a[1]) - Number(b[1]))).toEqual([
      ['content_filter', 400, 1],
      ['InternalServerError', 500, 3],
      ['http_502', 502, 3],
    ]);
    expect((await retryFailedLines(ingestDeps, jobId, { retryableOnly: true })).retried).toBe(2);
    for (const payload of world.requestQueue.drain())
      await processRequestMessage(requestMessageOf(payload), world.workerDeps);
    for (const payload of world.controlQueue.drain()) {
      const message = parseControlMessage(payload);
      if (typeof message !== 'string' && message.kind === 'finalize')
        await finalizeJob(message.jobId, world.finalizeDeps);
    }
    expect((await world.jobs.getJob(jobId))!.job.counts).toEqual({ succeeded: 2, failed: 1 });
  });
});
