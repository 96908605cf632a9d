import { describe, expect, it } from 'vitest';
import { refreshRollups } from '../../src/app/costRollups.js';
import { ledgerTotals } from '../../src/app/ledgerTotals.js';
import {
  LedgerState,
  type JobSpendStore,
  type JobStore,
  type LedgerEntry,
  type RollupStore,
  type UsageLedger,
} from '../../src/app/ports.js';
import { rollupId } from '../../src/core/costReport.js';
import { sampleJob, uniqueJobId } from './jobStoreConformance.js';

export interface CostStores {
  readonly ledger: UsageLedger;
  readonly rollups: RollupStore;
  readonly jobs: JobStore;
  readonly jobSpend: JobSpendStore;
}

let counter = 0;

export function ledgerEntry(jobId: string, fields: Partial<LedgerEntry> = {}): LedgerEntry {
  counter += 1;
  return {
    id: `call-${Date.now().toString(36)}-${counter}`,
    jobId,
    line: counter,
    attempt: 1,
    deployment: 'd',
    model: 'Phi-3-mini-4k-instruct',
    state: LedgerState.billed,
    httpStatus: 200,
    requestId: `req-${counter}`,
    promptTokens: 100,
    completionTokens: 20,
    reservedTokens: 200,
    atInMs: Date.UTC(2026, 10, 27, 12) + counter,
    day: '2026-11-27',
    inputPerMillion: 0.13,
    outputPerMillion: 0.52,
    currency: 'USD',
    costInNanos: 23_400,
    ...fields,
  };
}

const clock = { nowInMs: () => Date.UTC(2026, 10, 27, 12) };
// Days no other test of the suite writes, so range queries see only this test's rollups.
const QUIET_DAY = '2001-01-01';

/** The ledger, rollup and spend contracts. Every adapter pair (in memory, Cosmos) must pass it unchanged. */
export function describeCostStoresConformance(name: string, getStores: () => CostStores): void {
  describe(`UsageLedger contract: ${name}`, () => {
    it('records a call once, sums a job per day and model exactly, and lists its entries', async () => {
      const { ledger } = getStores();
      const jobId = uniqueJobId();
      const first = ledgerEntry(jobId, { promptTokens: 7, completionTokens: 3, costInNanos: 1_001 });
      expect(await ledger.record(first)).toBe(true);
      expect(await ledger.record(first)).toBe(false);
      await ledger.record(ledgerEntry(jobId, { day: '2026-11-28', costInNanos: 2_000, atInMs: first.atInMs + 10_000 }));
      await ledger.record(
        ledgerEntry(jobId, { model: 'Phi-3-medium-4k-instruct', costInNanos: 4_000, currency: 'EUR' }),
      );
      await ledger.record(ledgerEntry(uniqueJobId(), { costInNanos: 99_999 }));

      const byKey = (await ledger.totalsByKey(jobId)).sort((a, b) =>
        `${a.key.day}|${a.key.model}` < `${b.key.day}|${b.key.model}` ? -1 : 1,
      );
      const billed = (promptTokens: number, completionTokens: number, costInNanos: number) => ({
        calls: 1,
        unconfirmedCalls: 0,
        promptTokens,
        completionTokens,
        costInNanos,
      });
      expect(byKey).toEqual([
        {
          key: { day: '2026-11-27', model: 'Phi-3-medium-4k-instruct' },
          currency: 'EUR',
          totals: billed(100, 20, 4_000),
        },
        { key: { day: '2026-11-27', model: 'Phi-3-mini-4k-instruct' }, currency: 'USD', totals: billed(7, 3, 1_001) },
        {
          key: { day: '2026-11-28', model: 'Phi-3-mini-4k-instruct' },
          currency: 'USD',
          totals: billed(100, 20, 2_000),
        },
      ]);
      expect(await ledgerTotals(ledger, jobId)).toEqual({
        calls: 3,
        unconfirmedCalls: 0,
        promptTokens: 207,
        completionTokens: 43,
        costInNanos: 7_001,
      });
      expect(await ledger.totalsByKey(uniqueJobId())).toEqual([]);
      const entries: LedgerEntry[] = [];
      for await (const entry of ledger.listEntries(jobId)) entries.push(entry);
      expect(entries).toHaveLength(3);
      expect(entries[0]).toEqual(first);
      expect(entries.map((e) => e.atInMs)).toEqual([...entries.map((e) => e.atInMs)].sort((a, b) => a - b));
    });

    it('sums a job of one day and model exactly, unconfirmed calls counted, and a later day apart', async () => {
      const { ledger } = getStores();
      const jobId = uniqueJobId();
      for (let n = 0; n < 12; n += 1) {
        await ledger.record(
          ledgerEntry(jobId, {
            promptTokens: n,
            completionTokens: 2 * n,
            costInNanos: 1_000 + n,
            ...(n % 4 === 0 ? { state: LedgerState.sent } : {}),
          }),
        );
      }
      await ledger.record(ledgerEntry(uniqueJobId(), { costInNanos: 99_999 }));
      const one = {
        key: { day: '2026-11-27', model: 'Phi-3-mini-4k-instruct' },
        currency: 'USD',
        totals: { calls: 12, unconfirmedCalls: 3, promptTokens: 66, completionTokens: 132, costInNanos: 12_066 },
      };
      expect(await ledger.totalsByKey(jobId)).toEqual([one]);
      // One entry of another day: both keys, each exact.
      await ledger.record(
        ledgerEntry(jobId, { day: '2026-11-28', promptTokens: 1, completionTokens: 1, costInNanos: 5 }),
      );
      const byKey = (await ledger.totalsByKey(jobId)).sort((a, b) => (a.key.day < b.key.day ? -1 : 1));
      expect(byKey).toEqual([
        one,
        {
          ...one,
          key: { ...one.key, day: '2026-11-28' },
          totals: { calls: 1, unconfirmedCalls: 0, promptTokens: 1, completionTokens: 1, costInNanos: 5 },
        },
      ]);
    });
  });

  describe(`UsageLedger write-ahead: ${name}`, () => {
    it('a sent entry counts as an unconfirmed call until it is settled (billed) or discarded (not billed)', async () => {
      const { ledger } = getStores();
      const jobId = uniqueJobId();
      const sent = (fields: Partial<LedgerEntry> = {}) =>
        ledgerEntry(jobId, {
          state: LedgerState.sent,
          httpStatus: 0,
          requestId: '',
          promptTokens: 0,
          completionTokens: 0,
          costInNanos: 0,
          ...fields,
        });
      const billedLater = sent();
      const refused = sent();
      const neverAnswered = sent();
      for (const entry of [billedLater, refused, neverAnswered]) expect(await ledger.record(entry)).toBe(true);
      expect(await ledgerTotals(ledger, jobId)).toEqual({
        calls: 3,
        unconfirmedCalls: 3,
        promptTokens: 0,
        completionTokens: 0,
        costInNanos: 0,
      });

      const billed = {
        ...billedLater,
        state: LedgerState.billed,
        httpStatus: 200,
        requestId: 'req-x',
        promptTokens: 11,
        completionTokens: 4,
        costInNanos: 3_000,
      };
      await ledger.settle(billed);
      await ledger.settle(billed);
      await ledger.discard(jobId, refused.id);
      await ledger.discard(jobId, refused.id);
      expect(await ledgerTotals(ledger, jobId)).toEqual({
        calls: 2,
        unconfirmedCalls: 1,
        promptTokens: 11,
        completionTokens: 4,
        costInNanos: 3_000,
      });
      const entries: LedgerEntry[] = [];
      for await (const entry of ledger.listEntries(jobId)) entries.push(entry);
      expect(entries.map((e) => [e.id, e.state]).sort()).toEqual(
        [
          [billed.id, 'billed'],
          [neverAnswered.id, 'sent'],
        ].sort(),
      );
      // A settle of an entry whose write-ahead was lost still records the call.
      const orphan = ledgerEntry(jobId, { costInNanos: 1 });
      await ledger.settle(orphan);
      expect((await ledgerTotals(ledger, jobId)).calls).toBe(3);
    });
  });

  describe(`RollupStore contract: ${name}`, () => {
    it('creates once, replaces only with the current etag, and lists a range of days across jobs', async () => {
      const { rollups } = getStores();
      const jobId = uniqueJobId();
      const day = QUIET_DAY;
      const next = new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
      const after = new Date(Date.parse(`${day}T00:00:00Z`) + 2 * 86_400_000).toISOString().slice(0, 10);
      const base = {
        day,
        model: 'Phi-3-mini-4k-instruct',
        jobId,
        calls: 1,
        promptTokens: 1,
        completionTokens: 1,
        costInNanos: 5,
        currency: 'USD',
        refreshedAtInMs: 1,
      };
      const rollup = { ...base, id: rollupId(base.day, base.model, jobId) };
      expect(await rollups.create(rollup)).toBe(true);
      expect(await rollups.create(rollup)).toBe(false);
      const stored = (await rollups.get(jobId, { day, model: base.model }))!;
      expect(stored.rollup).toEqual(rollup);
      expect(await rollups.replace({ ...rollup, calls: 2 }, stored.etag)).toBe(true);
      expect(await rollups.replace({ ...rollup, calls: 3 }, stored.etag)).toBe(false);
      expect((await rollups.get(jobId, { day, model: base.model }))!.rollup.calls).toBe(2);
      expect(await rollups.get(jobId, { day, model: 'other' })).toBeUndefined();

      const otherJob = uniqueJobId();
      await rollups.create({ ...base, jobId: otherJob, day: next, id: rollupId(next, base.model, otherJob) });
      await rollups.create({ ...base, day: after, id: rollupId(after, base.model, jobId) });
      const listed: string[] = [];
      for await (const r of rollups.listDays(day, next)) listed.push(r.id);
      expect(listed.sort()).toEqual([rollupId(day, base.model, jobId), rollupId(next, base.model, otherJob)].sort());
      const ofJob = await rollups.listJob(jobId);
      expect(ofJob.map((r) => r.rollup.id).sort()).toEqual(
        [rollupId(day, base.model, jobId), rollupId(after, base.model, jobId)].sort(),
      );
      const current = ofJob.find((r) => r.rollup.day === day)!;
      expect(current.rollup.calls).toBe(2);
      expect(await rollups.replace({ ...rollup, calls: 4 }, current.etag)).toBe(true);
      expect(await rollups.listJob(uniqueJobId())).toEqual([]);
    });

    it('a day and model whose every entry was discarded is brought to zero, not left at what an earlier refresh saw', async () => {
      const { ledger, rollups } = getStores();
      const jobId = uniqueJobId();
      const kept = ledgerEntry(jobId);
      // Written ahead on the next day, seen by a refresh as an unconfirmed call, then refused and discarded.
      const refused = ledgerEntry(jobId, {
        day: '2026-11-28',
        state: LedgerState.sent,
        promptTokens: 0,
        completionTokens: 0,
        costInNanos: 0,
      });
      await ledger.record(kept);
      await ledger.record(refused);
      await refreshRollups(jobId, { ledger, rollups, clock });
      const key = { day: '2026-11-28', model: refused.model };
      expect((await rollups.get(jobId, key))!.rollup).toMatchObject({ calls: 1, unconfirmedCalls: 1 });

      await ledger.discard(jobId, refused.id);
      const refresh = await refreshRollups(jobId, { ledger, rollups, clock });
      expect(refresh.written).toBe(1);
      expect(refresh.totals).toEqual(await ledgerTotals(ledger, jobId));
      expect((await rollups.get(jobId, key))!.rollup).toMatchObject({
        calls: 0,
        unconfirmedCalls: 0,
        promptTokens: 0,
        completionTokens: 0,
        costInNanos: 0,
      });
      expect((await rollups.get(jobId, { day: kept.day, model: kept.model }))!.rollup).toMatchObject({
        calls: 1,
        costInNanos: kept.costInNanos,
      });
      expect(await refreshRollups(jobId, { ledger, rollups, clock })).toMatchObject({ written: 0 });
    });

    it('concurrent refreshes, while calls keep being recorded, end equal to the ledger for every day and model', async () => {
      const { ledger, rollups } = getStores();
      const jobId = uniqueJobId();
      const days = ['2026-11-27', '2026-11-28'];
      const writers = Array.from({ length: 6 }, async (_, i) => {
        for (let n = 0; n < 5; n += 1) {
          const day = days[(i + n) % 2]!;
          await ledger.record(
            ledgerEntry(jobId, { day, costInNanos: 1_000 * (i + 1) + n, promptTokens: n, completionTokens: i }),
          );
          await refreshRollups(jobId, { ledger, rollups, clock });
        }
      });
      await Promise.all(writers);
      const byKey = await ledger.totalsByKey(jobId);
      expect(byKey).toHaveLength(2);
      for (const { key, totals } of byKey) {
        const { calls, unconfirmedCalls, promptTokens, completionTokens, costInNanos } = (await rollups.get(
          jobId,
          key,
        ))!.rollup;
        expect({ calls, unconfirmedCalls, promptTokens, completionTokens, costInNanos }).toEqual(totals);
      }
      expect((await ledgerTotals(ledger, jobId)).calls).toBe(30);
      expect(await refreshRollups(jobId, { ledger, rollups, clock })).toEqual({
        written: 0,
        totals: await ledgerTotals(ledger, jobId),
      });
    });
  });

  describe(`JobSpendStore contract: ${name}`, () => {
    it('reserves only within the cap, even when many reserve at once, and settles to the real cost', async () => {
      const { jobs, jobSpend } = getStores();
      const job = sampleJob();
      await jobs.createJob(job);
      const granted = await Promise.all(Array.from({ length: 12 }, () => jobSpend.reserve(job.id, 300, 1_000)));
      expect(granted.filter(Boolean)).toHaveLength(3);
      let spend = (await jobs.getJob(job.id))!.job.spend!;
      expect(spend).toMatchObject({ committed: 0, reserved: 900, calls: 0 });

      await jobSpend.settle(job.id, { costInNanos: 120, calls: 1, releaseInNanos: 300 });
      await jobSpend.settle(job.id, { costInNanos: 0, calls: 0, releaseInNanos: 300 });
      spend = (await jobs.getJob(job.id))!.job.spend!;
      expect(spend).toMatchObject({ committed: 120, reserved: 300, calls: 1 });
      expect(await jobSpend.reserve(job.id, 580, 1_000)).toBe(true); // 120 + 300 + 580 = 1000
      expect(await jobSpend.reserve(job.id, 1, 1_000)).toBe(false);
      expect(await jobSpend.reserve(job.id, 2_000, 1_000)).toBe(false);

      await jobSpend.markCapReached(job.id, 1234);
      expect((await jobs.getJob(job.id))!.job.spend!.capReachedAtInMs).toBe(1234);
    });
  });
}
