import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseControlMessage } from '../../src/core/controlMessage.js';
import { getCostReport } from '../../src/app/costReports.js';
import { refreshRunningJobsRollups } from '../../src/app/costRollups.js';
import { silentLogger } from '../../src/app/Logger.js';
import { finalizeJob } from '../../src/app/finalizeJob.js';
import { ingestBlob } from '../../src/app/ingestBlob.js';
import { LedgerState, type JobSpendStore, type JobStore, type LedgerEntry } from '../../src/app/ports.js';
import { processRequestMessage } from '../../src/app/processRequestMessage.js';
import type { WorkerDeps } from '../../src/app/worker/WorkerDeps.js';
import type { Phi3HttpAnswer } from '../../src/adapters/phi3/phi3Answer.js';
import type { ChatCompletionBody } from '../../src/core/chat.js';
import type { CostRollup } from '../../src/core/costReport.js';
import type { LineOutcome } from '../../src/core/lineOutcome.js';
import { costInNanos, priceFor, utcDay, type ModelPrice } from '../../src/core/pricing.js';
import { requestMessageOf } from '../support/requestMessageOf.js';
import { chatLine, createWorld, roughTokenCounter, ScriptedChatClient } from './fixtures.js';
import { ledgerTotals } from '../../src/app/ledgerTotals.js';

const MODEL = 'Phi-3-mini-4k-instruct';
/** The deployment's price changes at midnight UTC between 27 and 28 November. */
const PRICES: readonly ModelPrice[] = [
  { model: MODEL, inputPerMillion: 0.13, outputPerMillion: 0.52, currency: 'USD', effectiveFrom: '2024-01-01' },
  { model: MODEL, inputPerMillion: 1.5, outputPerMillion: 6, currency: 'USD', effectiveFrom: '2026-11-28' },
];
const JUST_BEFORE_MIDNIGHT = Date.UTC(2026, 10, 27, 23, 57);

/** `timeout`: no answer reaches the worker; `crash`: the endpoint bills the call, then the worker dies before hearing back. */
type Attempt = 'ok' | 'e500' | 't429' | 'e400' | 'timeout' | 'crash';

interface Plan {
  /** Per line, the answers to its calls in order; once used up, every further call succeeds. */
  readonly lines: ReadonlyArray<{ readonly maxTokens: number; readonly attempts: readonly Attempt[] }>;
  /** Completions use every max_tokens (so a call costs exactly its reservation). */
  readonly fullCompletions: boolean;
  /** Worker runs (counted from 1) that crash after their calls were billed, before outcomes are kept. */
  readonly lostRuns: ReadonlySet<number>;
  /** Runs that crash right after a ledger entry was written, before the job's counters moved. */
  readonly crashAfterLedgerRuns: ReadonlySet<number>;
  /** Spending cap as a share of the job's maximum cost, or none. */
  readonly capShare: number | null;
  readonly minutesPerCall: number;
  /** Lines per work message (the lines of one message are sent concurrently). */
  readonly itemsPerMessage: number;
  readonly startAtInMs?: number;
}

/** Answers a line's calls as the plan says, billing the prompt as the tokenizer counts it, and moves the clock. */
function plannedScript(plan: Plan, clock: { now: number }) {
  const callsPerLine = new Map<string, number>();
  let responses = 0;
  /** What the endpoint billed (answered or not), and the calls whose answer never reached the worker. */
  const billed: Array<{ customId: string; callId: string; day: string }> = [];
  const unanswered: string[] = [];
  const script = (
    body: ChatCompletionBody,
    _call: number,
    customId: string | undefined,
    callId: string | undefined,
  ): Phi3HttpAnswer => {
    clock.now += plan.minutesPerCall * 60_000;
    const id = customId ?? '';
    const n = (callsPerLine.get(id) ?? 0) + 1;
    callsPerLine.set(id, n);
    const line = plan.lines[Number(id.slice(5))]!;
    const attempt = line.attempts[n - 1] ?? 'ok';
    responses += 1;
    if (attempt === 'e500')
      return {
        kind: 'response',
        status: 500,
        headers: {},
        body: { error: { code: 'internal', message: 'boom' } },
        requestId: `r${responses}`,
        latencyInMs: 1,
      };
    if (attempt === 't429')
      return {
        kind: 'response',
        status: 429,
        headers: { 'retry-after-ms': '10' },
        body: { error: { code: '429', message: 'slow down' } },
        requestId: `r${responses}`,
        latencyInMs: 1,
      };
    if (attempt === 'e400')
      return {
        kind: 'response',
        status: 400,
        headers: {},
        body: { error: { code: 'content_filter', message: 'filtered' } },
        requestId: `r${responses}`,
        latencyInMs: 1,
      };
    if (attempt === 'timeout') {
      unanswered.push(callId!);
      return { kind: 'timeout', latencyInMs: 1 };
    }
    if (attempt === 'crash') {
      billed.push({ customId: id, callId: callId!, day: utcDay(clock.now) });
      unanswered.push(callId!);
      throw new Error('host died while the endpoint answered');
    }
    const promptTokens = roughTokenCounter.countChatPrompt(body.messages);
    const maxTokens = body.max_tokens ?? 0;
    const completionTokens = plan.fullCompletions ? maxTokens : (n * 7 + promptTokens) % (maxTokens + 1);
    billed.push({ customId: id, callId: callId!, day: utcDay(clock.now) });
    return {
      kind: 'response',
      status: 200,
      headers: {},
      body: {
        id: `chatcmpl-${responses}`,
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
        usage: {
          prompt_tokens: promptTokens,
          completion_tokens: completionTokens,
          total_tokens: promptTokens + completionTokens,
        },
      },
      requestId: `r${responses}`,
      latencyInMs: 1,
    };
  };
  return { script, billed, unanswered };
}

/** A JobStore whose recordOutcomes fails while `failing()` says so: the worker crashed after billing. */
function losingOutcomes(jobs: JobStore, failing: () => boolean): JobStore {
  return new Proxy(jobs, {
    get(target, property, receiver) {
      if (property === 'recordOutcomes') {
        return async (outcomes: readonly LineOutcome[]) => {
          if (failing()) throw new Error('host died before the outcomes were kept');
          return target.recordOutcomes(outcomes);
        };
      }
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

function crashingSettle(jobSpend: JobSpendStore, failing: () => boolean): JobSpendStore {
  return {
    reserve: (jobId, amount, cap) => jobSpend.reserve(jobId, amount, cap),
    markCapReached: (jobId, atInMs) => jobSpend.markCapReached(jobId, atInMs),
    settle: async (jobId, settlement) => {
      if (settlement.calls > 0 && failing()) throw new Error('host died after the ledger entry');
      return jobSpend.settle(jobId, settlement);
    },
  };
}

async function runPlan(plan: Plan) {
  let answer: (
    body: ChatCompletionBody,
    call: number,
    customId: string | undefined,
    callId: string | undefined,
  ) => Phi3HttpAnswer = () => {
    throw new Error('no script yet');
  };
  const w = createWorld(new ScriptedChatClient((body, call, customId, callId) => answer(body, call, customId, callId)));
  w.clock.now = plan.startAtInMs ?? JUST_BEFORE_MIDNIGHT;
  const planned = plannedScript(plan, w.clock);
  answer = planned.script;
  const { billed, unanswered } = planned;
  const ingestDeps = {
    ...w.ingestDeps,
    prices: PRICES,
    packing: { maxMessageBytes: 4096, maxItemsPerMessage: plan.itemsPerMessage },
  };
  const lines = plan.lines.map((l, i) =>
    chatLine(`line-${i}`, `question number ${i} ${'x'.repeat(i % 5)}`, { max_tokens: l.maxTokens }),
  );
  const maxCostOfJob = plan.lines.reduce((sum, l, i) => {
    const prompt = roughTokenCounter.countChatPrompt([
      { role: 'user', content: `question number ${i} ${'x'.repeat(i % 5)}` },
    ]);
    return sum + costInNanos(PRICES[0]!, prompt, l.maxTokens);
  }, 0);
  const capInNanos = plan.capShare === null ? undefined : Math.floor(maxCostOfJob * plan.capShare);
  w.blobs.put(
    'batch-input',
    'in.jsonl',
    `${lines.join('\n')}\n`,
    capInNanos === undefined ? {} : { maxcost: (capInNanos / 1e9).toFixed(9) },
  );
  const ingested = await ingestBlob('batch-input', 'in.jsonl', ingestDeps);
  if (ingested.kind !== 'ingested') throw new Error('not ingested');

  let run = 0;
  let losing = false;
  let crashAfterLedger = false;
  const workerDeps: WorkerDeps = {
    ...w.workerDeps,
    prices: PRICES,
    jobs: losingOutcomes(w.jobs, () => losing),
    jobSpend: crashingSettle(w.workerDeps.jobSpend, () => {
      if (!crashAfterLedger) return false;
      crashAfterLedger = false;
      return true;
    }),
  };
  const finalizeDeps = w.finalizeDeps;
  for (let round = 0; round < 100; round += 1) {
    const work = w.requestQueue.drain();
    const control = w.controlQueue.drain();
    if (work.length === 0 && control.length === 0) break;
    for (const payload of work) {
      run += 1;
      losing = plan.lostRuns.has(run);
      crashAfterLedger = plan.crashAfterLedgerRuns.has(run);
      try {
        await processRequestMessage(requestMessageOf(payload), workerDeps);
      } catch (error) {
        if (!/host died/.test(String(error))) throw error;
        // The queue delivers the message again.
        await w.requestQueue.send([payload]);
      }
      losing = false;
    }
    for (const payload of control) {
      const message = parseControlMessage(payload);
      if (typeof message !== 'string' && message.kind === 'finalize') await finalizeJob(message.jobId, finalizeDeps);
    }
  }
  const job = (await w.jobs.getJob(ingested.jobId))!.job;
  const entries: LedgerEntry[] = [];
  for await (const entry of w.ledger.listEntries(job.id)) entries.push(entry);
  const rollups: CostRollup[] = [];
  for await (const rollup of w.rollups.listDays('2000-01-01', '2100-12-31'))
    if (rollup.jobId === job.id) rollups.push(rollup);
  const outcomes: LineOutcome[] = [];
  for await (const outcome of w.jobs.listOutcomes(job.id)) outcomes.push(outcome);
  return { w, job, entries, rollups, outcomes, billed, unanswered, capInNanos };
}

const sum = <T>(items: readonly T[], of: (item: T) => number): number =>
  items.reduce((total, item) => total + of(item), 0);

const planArbitrary = fc.record({
  lines: fc.array(
    fc.record({
      maxTokens: fc.integer({ min: 1, max: 40 }),
      attempts: fc.array(fc.constantFrom<Attempt>('ok', 'e500', 't429', 'e400', 'timeout', 'crash'), { maxLength: 4 }),
    }),
    { minLength: 1, maxLength: 10 },
  ),
  fullCompletions: fc.boolean(),
  lostRuns: fc.uniqueArray(fc.integer({ min: 1, max: 6 }), { maxLength: 3 }).map((runs) => new Set(runs)),
  crashAfterLedgerRuns: fc.uniqueArray(fc.integer({ min: 1, max: 6 }), { maxLength: 2 }).map((runs) => new Set(runs)),
  capShare: fc.option(fc.double({ min: 0, max: 1.2, noNaN: true }), { nil: null }),
  minutesPerCall: fc.integer({ min: 0, max: 3 }),
  itemsPerMessage: fc.integer({ min: 1, max: 5 }),
});

describe('costs on the in-memory ports', () => {
  it('ledger, rollups and job totals agree exactly, whatever the calls do (retries, failures, timeouts, lost results, crashes, a cap)', async () => {
    await fc.assert(
      fc.asyncProperty(planArbitrary, async (plan) => {
        const { job, entries, rollups, outcomes, billed, unanswered, capInNanos } = await runPlan(plan);
        expect(job.status).toBe('completed');
        expect(outcomes).toHaveLength(plan.lines.length);

        // Every call the endpoint billed is in the ledger under the id it was sent with, repeated ones
        // included; so is every call whose answer never came back (unconfirmed); nothing else is.
        const expectedIds = new Set([...billed.map((b) => b.callId), ...unanswered]);
        expect(new Set(entries.map((e) => e.id))).toEqual(expectedIds);
        expect(
          entries
            .filter((e) => e.state === LedgerState.sent)
            .map((e) => e.id)
            .sort(),
        ).toEqual([...unanswered].sort());
        for (const entry of entries.filter((e) => e.state === LedgerState.billed)) {
          expect(entry.day).toBe(utcDay(entry.atInMs));
          expect(entry.costInNanos).toBe(
            costInNanos(priceFor(PRICES, MODEL, entry.day)!, entry.promptTokens, entry.completionTokens),
          );
        }
        const ledger = {
          calls: entries.length,
          unconfirmedCalls: unanswered.length,
          promptTokens: sum(entries, (e) => e.promptTokens),
          completionTokens: sum(entries, (e) => e.completionTokens),
          costInNanos: sum(entries, (e) => e.costInNanos),
        };

        // Rollups: one per day the job spent on, each equal to the ledger for its day.
        expect(rollups.map((r) => r.day).sort()).toEqual([...new Set(entries.map((e) => e.day))].sort());
        for (const rollup of rollups) {
          const ofDay = entries.filter((e) => e.day === rollup.day);
          expect([
            rollup.calls,
            rollup.unconfirmedCalls,
            rollup.promptTokens,
            rollup.completionTokens,
            rollup.costInNanos,
          ]).toEqual([
            ofDay.length,
            ofDay.filter((e) => e.state === LedgerState.sent).length,
            sum(ofDay, (e) => e.promptTokens),
            sum(ofDay, (e) => e.completionTokens),
            sum(ofDay, (e) => e.costInNanos),
          ]);
        }

        // The job: spend = ledger; counts from outcomes.
        expect(job.usage).toEqual({
          promptTokens: ledger.promptTokens,
          completionTokens: ledger.completionTokens,
          costInNanos: ledger.costInNanos,
        });
        expect(job.spend).toMatchObject({
          committed: ledger.costInNanos,
          calls: ledger.calls,
          unconfirmedCalls: ledger.unconfirmedCalls,
          reserved: 0,
        });
        expect(job.counts.succeeded + job.counts.failed).toBe(plan.lines.length);
        expect(job.counts.succeeded).toBe(outcomes.filter((o) => o.status === 'succeeded').length);

        // The cap is never passed; a refused line says why.
        if (capInNanos !== undefined) {
          expect(ledger.costInNanos).toBeLessThanOrEqual(capInNanos);
          const refused = outcomes.filter((o) => o.error?.code === 'spending_cap_reached');
          expect(refused.length > 0).toBe(job.spend?.capReachedAtInMs !== undefined);
        } else {
          expect(outcomes.some((o) => o.error?.code === 'spending_cap_reached')).toBe(false);
        }
      }),
      { numRuns: 80 },
    );
  });

  it('prices each call at its own UTC day across a price change at midnight, in the ledger, the rollups and the report', async () => {
    const plan: Plan = {
      lines: Array.from({ length: 6 }, () => ({ maxTokens: 10, attempts: [] })),
      fullCompletions: true,
      lostRuns: new Set(),
      crashAfterLedgerRuns: new Set(),
      capShare: null,
      minutesPerCall: 1,
      itemsPerMessage: 1,
    };
    const { w, job, entries } = await runPlan(plan);
    const days = entries.map((e) => e.day);
    expect(days).toEqual(['2026-11-27', '2026-11-27', '2026-11-28', '2026-11-28', '2026-11-28', '2026-11-28']);
    for (const entry of entries) {
      const price = entry.day === '2026-11-27' ? PRICES[0]! : PRICES[1]!;
      expect([entry.inputPerMillion, entry.outputPerMillion]).toEqual([price.inputPerMillion, price.outputPerMillion]);
      expect(entry.costInNanos).toBe(costInNanos(price, entry.promptTokens, entry.completionTokens));
    }
    const report = await getCostReport(
      w.rollups,
      { from: '2026-11-27', to: '2026-11-28', groupBy: ['day'], format: 'json' },
      { defaultCurrency: 'USD' },
    );
    const expectedOf = (day: string) =>
      sum(
        entries.filter((e) => e.day === day),
        (e) => e.costInNanos,
      );
    expect(report.rows.map((r) => [r.day, r.calls, r.cost_nanos])).toEqual([
      ['2026-11-27', 2, expectedOf('2026-11-27')],
      ['2026-11-28', 4, expectedOf('2026-11-28')],
    ]);
    expect(report.total.cost_nanos).toBe(job.usage.costInNanos);
    // The estimate was priced on the day the job was created: the later price moves the real cost above it.
    expect(job.costEstimate).toMatchObject({ day: '2026-11-27', priceEffectiveFrom: '2024-01-01' });
    expect(job.usage.costInNanos).toBeGreaterThan(job.costEstimate!.maxCostInNanos);
  });

  it("stops a capped job within one request's cost of the cap, and says so on the job", async () => {
    const plan: Plan = {
      lines: Array.from({ length: 10 }, () => ({ maxTokens: 20, attempts: [] })),
      fullCompletions: true,
      lostRuns: new Set(),
      crashAfterLedgerRuns: new Set(),
      capShare: 0.55,
      minutesPerCall: 0,
      itemsPerMessage: 4,
      startAtInMs: Date.UTC(2026, 10, 27, 12),
    };
    const { job, entries, outcomes, capInNanos } = await runPlan(plan);
    const spent = sum(entries, (e) => e.costInNanos);
    const refused = outcomes.filter((o) => o.error?.code === 'spending_cap_reached');
    expect(refused.length).toBeGreaterThan(0);
    const maxRequestCost = Math.max(...entries.map((e) => e.costInNanos));
    expect(spent).toBeLessThanOrEqual(capInNanos!);
    expect(capInNanos! - spent).toBeLessThan(maxRequestCost);
    expect(refused[0]!.error!.message).toMatch(/spending cap of 0\.\d+ USD would be exceeded/);
    expect(job.spend?.capReachedAtInMs).toBeDefined();
    expect(job.counts.failed).toBe(refused.length);
  });

  it('an unreadable maxcost sends nothing and says why', async () => {
    const world = createWorld();
    world.blobs.put('batch-input', 'in.jsonl', `${chatLine('a', 'hello')}\n`, { maxcost: 'lots' });
    const ingested = await ingestBlob('batch-input', 'in.jsonl', world.ingestDeps);
    const [payload] = world.requestQueue.drain();
    await processRequestMessage(requestMessageOf(payload), world.workerDeps);
    const job = (await world.jobs.getJob(ingested.kind === 'ingested' ? ingested.jobId : ''))!.job;
    expect(job.jobError).toMatchObject({ code: 'invalid_max_cost' });
    expect(job.counts.failed).toBe(1);
    expect(world.ledger.entries.size).toBe(0);
  });
});

describe('rollups of running jobs', () => {
  it('the sweeper brings a running job’s rollups up to its ledger; finished jobs are left to finalisation', async () => {
    const world = createWorld();
    const lines = Array.from({ length: 8 }, (_, i) => chatLine(`r-${i}`, `running question ${i}`));
    world.blobs.put('batch-input', 'running.jsonl', `${lines.join('\n')}\n`);
    const ingested = await ingestBlob('batch-input', 'running.jsonl', world.ingestDeps);
    if (ingested.kind !== 'ingested') throw new Error('not ingested');
    // Half the work messages run; the job is still in progress.
    const messages = world.requestQueue.drain();
    for (const payload of messages.slice(0, messages.length / 2))
      await processRequestMessage(requestMessageOf(payload), world.workerDeps);
    const rollupsOf = async () => {
      const found: CostRollup[] = [];
      for await (const rollup of world.rollups.listDays('2000-01-01', '2100-12-31'))
        if (rollup.jobId === ingested.jobId) found.push(rollup);
      return found;
    };
    expect(await rollupsOf()).toEqual([]);

    const deps = {
      jobs: world.jobs,
      ledger: world.ledger,
      rollups: world.rollups,
      clock: world.clock,
      logger: silentLogger,
    };
    expect(await refreshRunningJobsRollups(deps)).toBe(1);
    const [rollup] = await rollupsOf();
    const totals = await ledgerTotals(world.ledger, ingested.jobId);
    expect(totals.calls).toBe(4);
    expect(rollup).toMatchObject({
      calls: totals.calls,
      promptTokens: totals.promptTokens,
      costInNanos: totals.costInNanos,
    });
    // Nothing new: nothing written.
    expect(await refreshRunningJobsRollups(deps)).toBe(0);
  });
});
