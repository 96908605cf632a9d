import { describe, expect, test } from 'vitest';
import type { BatchObject } from '../../src/core/batchObject.js';
import { watchJob, type WatchJobOptions } from '../../cli/progress.js';
import { stages } from './fixtures.js';
import { CapturingStream } from './streams.js';

/** A job's life as successive polls see it, on a fake clock that each wait moves forward. */
function scripted(sequence: readonly (BatchObject | undefined | Error)[], stepInMs = 1000) {
  let now = 0;
  let index = 0;
  const delays: number[] = [];
  const fetchJob = async (): Promise<BatchObject | undefined> => {
    const next = sequence[Math.min(index, sequence.length - 1)];
    index += 1;
    if (next instanceof Error) throw next;
    return next;
  };
  const options = {
    fetchJob,
    clock: { nowInMs: () => now },
    delay: async (ms: number, signal: AbortSignal | undefined) => {
      delays.push(ms);
      now += stepInMs;
      signal?.throwIfAborted();
    },
  } satisfies Partial<WatchJobOptions>;
  return { options, delays, fetches: () => index };
}

describe('watchJob without a terminal', () => {
  test('prints a line per change, throttled, the status changes at once, and resolves with the final job', async () => {
    const stream = new CapturingStream();
    const { options, delays } = scripted([
      undefined,
      undefined,
      stages.created(),
      stages.reading(100),
      stages.reading(200),
      stages.running(200, 20),
      stages.running(200, 40),
      stages.running(200, 60),
      stages.running(200, 80),
      stages.running(200, 100),
      stages.running(200, 100),
      stages.finalizing(200),
      stages.completed(200),
    ]);
    const job = await watchJob({ ...options, stream, pollIntervalInMs: 250, plainIntervalInMs: 3000 });

    expect(job.status).toBe('completed');
    expect(delays.length).toBe(12);
    expect(delays.every((ms) => ms === 250)).toBe(true);
    expect(stream.lines).toEqual([
      'waiting for the ingest function to pick up the file…',
      'reading file… 0 lines read | ok 0 · failed 0 | tokens 0 in / 0 out | $0.00 | validating',
      'reading file… 100 lines read | ok 0 · failed 0 | tokens 0 in / 0 out | $0.00 | in_progress',
      // Same status: at most one line per 3 s, showing the state of that moment (t = 6 s, then 9 s).
      '20% 40/200 | ok 40 · failed 0 | tokens 4.8k in / 1.6k out | $0.0015 | ETA 16s | in_progress',
      '50% 100/200 | ok 100 · failed 0 | tokens 12k in / 4k out | $0.0036 | ETA 7s | in_progress',
      '99% 200/200 | ok 200 · failed 0 | tokens 0 in / 0 out | $0.00 | writing output files… | finalizing',
      '100% 200/200 | ok 200 · failed 0 | tokens 12.3k in / 6.79k out | $0.0051 | completed',
    ]);
  });

  test('never shows 100% before the job has ended', async () => {
    const stream = new CapturingStream();
    const { options } = scripted([
      stages.running(10, 10),
      stages.finalizing(10),
      stages.finalizing(10),
      stages.completed(10),
    ]);
    await watchJob({ ...options, stream, plainIntervalInMs: 0 });
    const lines = stream.lines;
    expect(lines.slice(0, -1).some((line) => line.includes('100%'))).toBe(false);
    expect(lines.at(-1)).toContain('100%');
  });

  test('a failed or cancelled job ends the watch too', async () => {
    for (const final of [stages.failed(), stages.cancelled(10, 3)]) {
      const { options } = scripted([stages.running(10, 1), final]);
      await expect(watchJob({ ...options, stream: new CapturingStream() })).resolves.toBe(final);
    }
  });
});

describe('watchJob on a terminal', () => {
  test('draws the line with a bar, then leaves the final state and restores the cursor', async () => {
    const stream = new CapturingStream({ isTTY: true });
    const { options } = scripted([undefined, stages.running(10, 5), stages.completed(10)]);
    const job = await watchJob({ ...options, stream });
    expect(job.status).toBe('completed');
    const text = stream.text;
    expect(text).toContain('waiting for the ingest function');
    expect(text).toMatch(
      /\[█+\] 100% 10\/10 \| ok 10 · failed 0 \| tokens 12\.3k in \/ 6\.79k out \| \$0\.0051 \| completed/,
    );
    // Hidden while drawing, shown again at the end.
    expect(text).toContain('\x1B[?25l');
    expect(text.lastIndexOf('\x1B[?25h')).toBeGreaterThan(text.lastIndexOf('completed'));
  });

  test('the tty option overrides detection', async () => {
    const stream = new CapturingStream({ isTTY: true });
    const { options } = scripted([stages.completed(3)]);
    await watchJob({ ...options, stream, tty: false });
    expect(stream.text).toBe('100% 3/3 | ok 3 · failed 0 | tokens 12.3k in / 6.79k out | $0.0051 | completed\n');
  });
});

describe('watchJob stops', () => {
  test('rejects when aborted, and polls no more', async () => {
    const controller = new AbortController();
    const { options, fetches } = scripted([stages.running(10, 1)]);
    const delay = async (ms: number, signal: AbortSignal | undefined) => {
      await options.delay(ms, signal);
      if (fetches() === 2) controller.abort();
      signal?.throwIfAborted();
    };
    await expect(
      watchJob({ ...options, delay, stream: new CapturingStream(), abortSignal: controller.signal }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    expect(fetches()).toBe(2);
  });

  test('an already aborted signal stops before the first poll', async () => {
    const { options, fetches } = scripted([stages.running(10, 1)]);
    await expect(
      watchJob({ ...options, stream: new CapturingStream(), abortSignal: AbortSignal.abort() }),
    ).rejects.toThrow();
    expect(fetches()).toBe(0);
  });

  test('rides out a few failed polls', async () => {
    const { options } = scripted([new Error('ECONNRESET'), new Error('ECONNRESET'), stages.completed(2)]);
    await expect(
      watchJob({ ...options, stream: new CapturingStream(), maxConsecutiveFetchErrors: 3 }),
    ).resolves.toMatchObject({ status: 'completed' });
  });

  test('gives up with the last error after too many failed polls in a row', async () => {
    const { options, fetches } = scripted([stages.running(2, 1), new Error('first'), new Error('second')]);
    await expect(watchJob({ ...options, stream: new CapturingStream(), maxConsecutiveFetchErrors: 2 })).rejects.toThrow(
      'second',
    );
    expect(fetches()).toBe(3);
  });

  test('an error that is not retryable ends the watch at once', async () => {
    const refused = Object.assign(new Error('refused'), { retryable: false });
    const { options, fetches } = scripted([refused, stages.completed(2)]);
    const isRetryableError = (error: unknown) => (error as { retryable?: boolean }).retryable !== false;
    await expect(watchJob({ ...options, stream: new CapturingStream(), isRetryableError })).rejects.toBe(refused);
    expect(fetches()).toBe(1);
  });

  test('the default delay is real and abortable', async () => {
    const controller = new AbortController();
    const watching = watchJob({
      fetchJob: async () => {
        controller.abort();
        return stages.running(2, 1);
      },
      pollIntervalInMs: 60_000,
      stream: new CapturingStream(),
      abortSignal: controller.signal,
    });
    await expect(watching).rejects.toMatchObject({ name: 'AbortError' });
  });
});
