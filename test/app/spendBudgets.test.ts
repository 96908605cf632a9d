import { describe, expect, it } from 'vitest';
import { InMemoryMetrics } from '../../src/adapters/memory/InMemoryMetrics.js';
import { InMemorySpendBudgetStore } from '../../src/adapters/memory/InMemorySpendBudgetStore.js';
import { BudgetPeriodWriter } from '../../src/app/BudgetPeriodWriter.js';
import { listBudgets } from '../../src/app/budgetQueries.js';
import { BudgetMeter, type BudgetDeps } from '../../src/app/budgetSpend.js';
import { ingestBlob } from '../../src/app/ingestBlob.js';
import { silentLogger, type Logger } from '../../src/app/Logger.js';
import { LedgerState, type SpendBudgetStore } from '../../src/app/ports.js';
import { processRequestMessage } from '../../src/app/processRequestMessage.js';
import { updateJob } from '../../src/app/updateJob.js';
import type { WebhookSender } from '../../src/app/webhooks.js';
import type { WorkerDeps } from '../../src/app/worker/WorkerDeps.js';
import { toBatchObject } from '../../src/core/batchObject.js';
import type { Job } from '../../src/core/job.js';
import type { LineOutcome } from '../../src/core/lineOutcome.js';
import { parseAmountToNanos } from '../../src/core/money.js';
import { budgetPeriodId, parseBudgets, type BudgetPeriodState, type SpendBudget } from '../../src/core/spendBudgets.js';
import { requestMessageOf } from '../support/requestMessageOf.js';
import { chatLine, createWorld, ScriptedChatClient } from './fixtures.js';

const SECRET = `whsec_${Buffer.from('0123456789abcdef0123').toString('base64')}`;

function budgetsOf(text: string): SpendBudget[] {
  const parsed = parseBudgets(text);
  if ('error' in parsed) throw new Error(parsed.error.expected);
  return parsed.budgets;
}

/** A webhook receiver that answers 200 and keeps what it got. */
function recordingSender() {
  const posts: Array<{
    body: { type: string; id: string; data: Record<string, unknown> };
    headers: Record<string, string>;
  }> = [];
  const sender: WebhookSender = {
    post: async (_url, body, headers) => {
      posts.push({ body: JSON.parse(body) as (typeof posts)[number]['body'], headers: { ...headers } });
      return { status: 200 };
    },
  };
  return { posts, sender };
}

function recordingLogger() {
  const warnings: string[] = [];
  const logger: Logger = { ...silentLogger, warn: (message: string) => void warnings.push(message) };
  return { warnings, logger };
}

/** A world whose worker enforces `budgets` (one instance: one period writer). */
function budgetWorld(
  budgets: readonly SpendBudget[],
  store: SpendBudgetStore = new InMemorySpendBudgetStore(),
  chat?: ScriptedChatClient,
) {
  const world = createWorld(chat);
  const { posts, sender } = recordingSender();
  const { warnings, logger } = recordingLogger();
  const metrics = new InMemoryMetrics();
  const spendBudgets: BudgetDeps = {
    budgets,
    budgetPeriods: new BudgetPeriodWriter(store),
    sender,
    target: { url: 'http://127.0.0.1:9/hook', secret: SECRET, retryDelaysInMs: [] },
    clock: world.clock,
    logger,
    metrics,
  };
  const workerDeps: WorkerDeps = { ...world.workerDeps, spendBudgets };
  return { world, store, workerDeps, posts, warnings, metrics };
}

type BudgetWorld = ReturnType<typeof budgetWorld>;

/** Ingests a file of `count` lines, optionally tags the job, and returns its id. */
async function submit(w: BudgetWorld, name: string, count: number, tags?: Record<string, string>): Promise<string> {
  const lines = Array.from({ length: count }, (_, i) => chatLine(`${name}-${i}`, `question ${i} of ${name}`));
  w.world.blobs.put('batch-input', `${name}.jsonl`, `${lines.join('\n')}\n`);
  const ingested = await ingestBlob('batch-input', `${name}.jsonl`, w.world.ingestDeps);
  if (ingested.kind !== 'ingested') throw new Error('not ingested');
  if (tags !== undefined) await updateJob(w.world.jobs, ingested.jobId, (job) => ({ ...job, tags }));
  return ingested.jobId;
}

/** Runs every queued work message (re-queued ones only once their delay has passed). */
async function runQueued(w: BudgetWorld): Promise<void> {
  for (let round = 0; round < 20; round += 1) {
    const work = w.world.requestQueue.drain();
    if (work.length === 0) return;
    for (const payload of work) await processRequestMessage(requestMessageOf(payload), w.workerDeps);
  }
}

async function jobOf(w: BudgetWorld, jobId: string): Promise<Job> {
  return (await w.world.jobs.getJob(jobId))!.job;
}

async function outcomesOf(w: BudgetWorld, jobId: string): Promise<LineOutcome[]> {
  const outcomes: LineOutcome[] = [];
  for await (const outcome of w.world.jobs.listOutcomes(jobId)) outcomes.push(outcome);
  return outcomes;
}

/** The ledger's billed cost and calls of the given jobs. */
function ledgerOf(w: BudgetWorld, jobIds: readonly string[]) {
  const billed = [...w.world.ledger.entries.values()].filter(
    (e) => jobIds.includes(e.jobId) && e.state === LedgerState.billed,
  );
  return { costInNanos: billed.reduce((sum, e) => sum + e.costInNanos, 0), calls: billed.length };
}

async function periodOf(store: SpendBudgetStore, budget: SpendBudget, periodId: string): Promise<BudgetPeriodState> {
  return (await store.get(budgetPeriodId(budget, periodId)))!.state;
}

describe('a monthly deployment budget', () => {
  it('stops a second job at the limit; the budget, the jobs and the ledger agree to the nano-dollar', async () => {
    // Each call here costs 3,900 nano-dollars (10 + 5 tokens) and reserves more (prompt + max_tokens).
    const [budget] = budgetsOf('deployment:test:monthly=0.00006');
    const w = budgetWorld([budget!]);
    const first = await submit(w, 'first', 3);
    await runQueued(w);
    const firstJob = await jobOf(w, first);
    expect(firstJob.counts).toEqual({ succeeded: 3, failed: 0 });

    const second = await submit(w, 'second', 40);
    await runQueued(w);
    const period = await periodOf(w.store, budget!, '2026-11');
    const ledger = ledgerOf(w, [first, second]);
    expect(period.committedInNanos).toBe(ledger.costInNanos);
    expect(period.calls).toBe(ledger.calls);
    expect(period.reservedInNanos).toBe(0);
    expect(period.committedInNanos).toBeLessThanOrEqual(budget!.limitInNanos);

    const secondJob = await jobOf(w, second);
    const outcomes = await outcomesOf(w, second);
    const stopped = outcomes.filter((o) => o.error?.code === 'budget_exceeded');
    expect(secondJob.counts.succeeded).toBeGreaterThan(0);
    expect(stopped.length).toBeGreaterThan(0);
    expect(secondJob.counts.succeeded + stopped.length).toBe(40);
    expect(stopped[0]!.error!.message).toMatch(
      /monthly budget deployment:test of 0\.00006 USD for 2026-11 would be exceeded; no more lines of the job are sent/,
    );
    expect(toBatchObject(secondJob).halted).toMatchObject({ code: 'budget_exceeded' });
    // Every call the job made is in the budget: what the job spent, the ledger spent.
    expect(secondJob.usage.costInNanos + firstJob.usage.costInNanos).toBe(period.committedInNanos);
  });
});

describe('calls whose answer is lost', () => {
  it('keep their worst case held in the period: the budget is undercut, never passed', async () => {
    const [budget] = budgetsOf('deployment:test:monthly=1');
    const store = new InMemorySpendBudgetStore();
    const w = budgetWorld([budget!], store, new ScriptedChatClient(() => ({ kind: 'timeout', latencyInMs: 5 })));
    const { world } = w;
    const jobId = await submit(w, 'lost', 2);
    for (const payload of world.requestQueue.drain())
      await processRequestMessage(requestMessageOf(payload), w.workerDeps);
    const period = await periodOf(store, budget!, '2026-11');
    const sent = [...world.ledger.entries.values()].filter((e) => e.jobId === jobId);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.every((e) => e.state === LedgerState.sent)).toBe(true);
    expect(period.committedInNanos).toBe(0);
    expect(period.calls).toBe(0);
    // Each unanswered call may have been billed up to its worst case: that much stays reserved.
    expect(period.reservedInNanos).toBeGreaterThan(0);
    expect(period.reservedInNanos % sent.length).toBe(0);
  });
});

describe('a tag budget', () => {
  it('applies only to jobs with that tag value', async () => {
    const [budget] = budgetsOf('tag:project=x:daily=0');
    const w = budgetWorld([budget!]);
    const tagged = await submit(w, 'tagged', 3, { project: 'x' });
    const other = await submit(w, 'other', 3, { project: 'y' });
    const untagged = await submit(w, 'untagged', 3);
    await runQueued(w);
    expect((await outcomesOf(w, tagged)).map((o) => o.error?.code)).toEqual([
      'budget_exceeded',
      'budget_exceeded',
      'budget_exceeded',
    ]);
    expect((await jobOf(w, other)).counts).toEqual({ succeeded: 3, failed: 0 });
    expect((await jobOf(w, untagged)).counts).toEqual({ succeeded: 3, failed: 0 });
    const period = await periodOf(w.store, budget!, '2026-11-27');
    expect(period).toMatchObject({ committedInNanos: 0, reservedInNanos: 0, calls: 0 });
  });
});

describe('a budget that waits', () => {
  it('re-queues the lines until the period rolls over, says so on the job, then sends them in the new period', async () => {
    const [budget] = budgetsOf('deployment:test:daily=0.00003:action=wait');
    const w = budgetWorld([budget!]);
    w.world.clock.now = Date.UTC(2026, 10, 27, 22, 0);
    const jobId = await submit(w, 'waiting', 8);
    for (const payload of w.world.requestQueue.drain())
      await processRequestMessage(requestMessageOf(payload), w.workerDeps);
    const waiting = await jobOf(w, jobId);
    expect(waiting.counts.succeeded).toBeGreaterThan(0);
    expect(waiting.counts.failed).toBe(0);
    expect(toBatchObject(waiting).waiting).toMatchObject({
      reason: expect.stringMatching(
        /daily budget deployment:test .* for 2026-11-27 would be exceeded.*until 2026-11-28T00:00:00/,
      ),
    });
    const dayOne = await periodOf(w.store, budget!, '2026-11-27');
    expect(dayOne.committedInNanos).toBeLessThanOrEqual(budget!.limitInNanos);

    // The next day, the re-queued lines go out and count in that day's period.
    w.world.clock.now = Date.UTC(2026, 10, 28, 0, 1);
    await runQueued(w);
    const done = await jobOf(w, jobId);
    expect(done.counts).toEqual({ succeeded: 8, failed: 0 });
    const dayTwo = await periodOf(w.store, budget!, '2026-11-28');
    expect(dayOne.committedInNanos + dayTwo.committedInNanos).toBe(ledgerOf(w, [jobId]).costInNanos);
    expect(dayTwo.calls).toBe(8 - dayOne.calls);
  });

  it('holds a call reserved near midnight against both days, and counts it in the day it is billed', async () => {
    const [budget] = budgetsOf('deployment:test:daily=1');
    const store = new InMemorySpendBudgetStore();
    const deps = budgetWorld([budget!], store).workerDeps.spendBudgets!;
    const meter = new BudgetMeter({ id: 'job', deployment: 'test' } as Job, deps);
    const hold = await meter.reserve(5_000, Date.UTC(2026, 10, 27, 23, 30));
    expect((await periodOf(store, budget!, '2026-11-27')).reservedInNanos).toBe(5_000);
    expect((await periodOf(store, budget!, '2026-11-28')).reservedInNanos).toBe(5_000);
    if (!('holds' in hold)) throw new Error('refused');
    meter.bill(hold, 1_234, '2026-11-28');
    await meter.flush();
    expect(await periodOf(store, budget!, '2026-11-27')).toMatchObject({ reservedInNanos: 0, committedInNanos: 0 });
    expect(await periodOf(store, budget!, '2026-11-28')).toMatchObject({ reservedInNanos: 0, committedInNanos: 1_234 });
  });
});

describe('budget alerts', () => {
  it('fire once per threshold and period, through the signed webhook and the logs, even with two instances racing', async () => {
    const [budget] = budgetsOf('deployment:test:monthly=0.0001');
    const store = new InMemorySpendBudgetStore();
    // Two instances: each its own period writer, one store.
    const a = budgetWorld([budget!], store);
    const b = budgetWorld([budget!], store);
    const job = { id: 'job', deployment: 'test' } as Job;
    const now = Date.UTC(2026, 11, 7, 12);
    const spendOnce = async (w: BudgetWorld) => {
      const meter = new BudgetMeter(job, w.workerDeps.spendBudgets);
      const hold = await meter.reserve(4_000, now);
      if ('holds' in hold) meter.bill(hold, 3_000, '2026-12-07');
      await meter.flush();
    };
    // Rounds of one call per instance at once, 3,000 each against a limit of 100,000: 50%, 80%, then a
    // refusal (the limit is reached: 100%) along the way.
    for (let round = 0; round < 20; round += 1) await Promise.all([spendOnce(a), spendOnce(b)]);
    const posts = [...a.posts, ...b.posts];
    expect(posts.map((p) => p.body.data['threshold_percent']).sort()).toEqual([100, 50, 80]);
    expect(new Set(posts.map((p) => p.body.type))).toEqual(new Set(['budget.threshold_reached']));
    expect(posts[0]!.headers['webhook-signature']).toMatch(/^v1,/);
    expect(posts[0]!.body.data).toMatchObject({ budget: 'deployment:test', period: 'monthly', period_id: '2026-12' });
    const logged = [...a.warnings, ...b.warnings].filter((m) => /% reached/.test(m));
    expect(logged).toHaveLength(3);
    const counted: Record<string, number> = {};
    for (const w of [a, b])
      for (const [key, count] of Object.entries(w.metrics.snapshot().budgetAlerts))
        counted[key] = (counted[key] ?? 0) + count;
    expect(counted).toEqual({
      'deployment:test:monthly|50': 1,
      'deployment:test:monthly|80': 1,
      'deployment:test:monthly|100': 1,
    });
    const period = await periodOf(store, budget!, '2026-12');
    expect(period.alerted.slice().sort()).toEqual([100, 50, 80]);
    expect(period.committedInNanos).toBeLessThanOrEqual(budget!.limitInNanos);
    expect(period.reservedInNanos).toBe(0);

    // More spending in the same period alerts no more; a new period starts afresh.
    await spendOnce(a);
    expect(a.posts.length + b.posts.length).toBe(3);
  });
});

describe('GET /api/budgets', () => {
  it('shows each budget in its current period: limit, spent, reserved, remaining, alerts fired', async () => {
    const budgets = budgetsOf('deployment:test:monthly=0.00006,tag:project=x:daily=5:action=wait');
    const w = budgetWorld(budgets);
    await submit(w, 'listed', 3);
    await runQueued(w);
    const list = await listBudgets({ budgets, store: w.store, clock: w.world.clock, currency: 'USD' });
    expect(list.data).toEqual([
      {
        budget: 'deployment:test',
        period: 'monthly',
        period_id: '2026-11',
        resets_at: Date.UTC(2026, 11, 1) / 1000,
        action: 'stop',
        currency: 'USD',
        limit: '0.00006',
        spent: '0.0000117',
        reserved: '0.00',
        remaining: '0.0000483',
        calls: 3,
        alerts_fired: [],
      },
      expect.objectContaining({ budget: 'tag:project=x', period_id: '2026-11-27', spent: '0.00', action: 'wait' }),
    ]);
  });
});

describe('BUDGETS syntax', () => {
  it('reads deployment and tag budgets, daily and monthly, with their action', () => {
    expect(budgetsOf('deployment:phi3-mini:monthly=50, tag:project=x:daily=5:action=wait')).toEqual([
      {
        scope: { kind: 'deployment', deployment: 'phi3-mini' },
        period: 'monthly',
        limitInNanos: parseAmountToNanos('50'),
        action: 'stop',
      },
      { scope: { kind: 'tag', key: 'project', value: 'x' }, period: 'daily', limitInNanos: 5e9, action: 'wait' },
    ]);
    // A deployment named after its host and port.
    expect(budgetsOf('deployment:127.0.0.1:8000:daily=1')[0]!.scope).toEqual({
      kind: 'deployment',
      deployment: '127.0.0.1:8000',
    });
  });

  it.each([
    ['deployment:x:weekly=5', /deployment:<name> or tag:<key>=<value>/],
    ['deployment:x:monthly=lots', /decimal amount/],
    ['tag:project=x:daily=5:action=pause', /action=stop or action=wait/],
    ['deployment:x:daily=1,deployment:x:daily=2', /set twice/],
  ])('refuses %s', (text, expected) => {
    const parsed = parseBudgets(text);
    expect('error' in parsed && parsed.error.expected).toMatch(expected);
  });
});
