import { describe, expect, it } from 'vitest';
import { sharedReads } from '../../src/app/sharedReads.js';

/** A read per call, each settled by hand, so overlap is decided by the test, not by timing. */
function manualReads() {
  const started: Array<{ key: string; resolve: (value: string) => void; reject: (error: Error) => void }> = [];
  const read = (key: string) =>
    new Promise<string>((resolve, reject) => {
      started.push({ key, resolve, reject });
    });
  return { started, read };
}

describe('sharedReads', () => {
  it('reads that overlap share one read; a read asked for after it settled reads afresh', async () => {
    const { started, read } = manualReads();
    const shared = sharedReads(read);
    const first = shared('job-1');
    const second = shared('job-1');
    const other = shared('job-2');
    expect(started.map((s) => s.key)).toEqual(['job-1', 'job-2']);
    started[0]!.resolve('v1');
    started[1]!.resolve('w1');
    expect(await Promise.all([first, second, other])).toEqual(['v1', 'v1', 'w1']);

    const third = shared('job-1');
    expect(started.map((s) => s.key)).toEqual(['job-1', 'job-2', 'job-1']);
    started[2]!.resolve('v2');
    expect(await third).toBe('v2');
  });

  it('a failed read fails every caller that shared it, and the next read tries again', async () => {
    const { started, read } = manualReads();
    const shared = sharedReads(read);
    const first = shared('job-1');
    const second = shared('job-1');
    started[0]!.reject(new Error('store unavailable'));
    await expect(first).rejects.toThrow('store unavailable');
    await expect(second).rejects.toThrow('store unavailable');
    const retry = shared('job-1');
    expect(started).toHaveLength(2);
    started[1]!.resolve('v1');
    expect(await retry).toBe('v1');
  });
});
