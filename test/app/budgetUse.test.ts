import { describe, expect, it } from 'vitest';
import { InMemoryUsageLedger } from '../../src/adapters/memory/InMemoryUsageLedger.js';
import { getBudgetUse } from '../../src/app/budgetUse.js';
import { LedgerState, type LedgerEntry } from '../../src/app/ports.js';

/* Budget use per deployment over the last minute, from the ledger every instance writes to. */

const NOW = Date.UTC(2026, 11, 7, 12);

function entry(id: string, deployment: string, atInMs: number, reservedTokens: number): LedgerEntry {
  return {
    id,
    jobId: `job-${id}`,
    line: 1,
    attempt: 1,
    deployment,
    model: 'Phi-3-mini-4k-instruct',
    state: LedgerState.billed,
    httpStatus: 200,
    requestId: '',
    promptTokens: 0,
    completionTokens: 0,
    reservedTokens,
    atInMs,
    day: '2026-12-07',
    inputPerMillion: 0,
    outputPerMillion: 0,
    currency: 'USD',
    costInNanos: 0,
  };
}

describe('getBudgetUse', () => {
  it("counts the last minute's calls per deployment, of every job, against each limit; the larger share binds", async () => {
    const ledger = new InMemoryUsageLedger();
    for (let i = 0; i < 30; i += 1) await ledger.record(entry(`a${i}`, 'east', NOW - 1_000 * i, 1_000));
    await ledger.record(entry('old', 'east', NOW - 61_000, 1_000));
    for (let i = 0; i < 5; i += 1) await ledger.record(entry(`b${i}`, 'west', NOW - 10, 20_000));
    const report = await getBudgetUse({
      ledger,
      clock: { nowInMs: () => NOW },
      deployments: [
        { name: 'east', requestsPerMinute: 100, tokensPerMinute: 200_000 },
        { name: 'west', requestsPerMinute: 100, tokensPerMinute: 200_000 },
        { name: 'idle', requestsPerMinute: 100, tokensPerMinute: 200_000 },
      ],
    });
    expect(report.windowInMs).toBe(60_000);
    expect(report.deployments.map((d) => [d.deployment, d.requests, d.tokens, d.bindingUsed])).toEqual([
      ['east', 30, 30_000, 30],
      ['west', 5, 100_000, 50],
      ['idle', 0, 0, 0],
    ]);
    expect(report.deployments[0]).toMatchObject({ requestsUsed: 30, tokensUsed: 15 });
  });
});
