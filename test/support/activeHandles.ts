import { waitFor } from './waitFor.js';

/** Handle types that mean "something is still open": servers, sockets, child pipes, timers, file ops. */
const watchedTypes = ['TCPServerWrap', 'TCPSocketWrap', 'TCPWrap', 'PipeWrap', 'Timeout', 'FSReqCallback', 'TLSWrap'];

export type HandleCounts = Readonly<Record<string, number>>;

/**
 * Counts the resources keeping the event loop alive, by type. Measured from a setImmediate callback so
 * the timer that scheduled the check is not itself counted.
 */
export async function countActiveHandles(): Promise<HandleCounts> {
  return new Promise((resolve) => {
    setImmediate(() => {
      const counts: Record<string, number> = {};
      for (const type of process.getActiveResourcesInfo()) {
        if (watchedTypes.includes(type)) {
          counts[type] = (counts[type] ?? 0) + 1;
        }
      }
      resolve(counts);
    });
  });
}

function excess(current: HandleCounts, baseline: HandleCounts): Record<string, number> {
  const extra: Record<string, number> = {};
  for (const [type, count] of Object.entries(current)) {
    const over = count - (baseline[type] ?? 0);
    if (over > 0) {
      extra[type] = over;
    }
  }
  return extra;
}

/**
 * Waits until no more handles are open than in `baseline` (closing sockets takes a tick or two),
 * failing with the leftovers by type after the deadline.
 */
export async function expectNoHandlesBeyond(baseline: HandleCounts, timeoutInMs = 5_000): Promise<void> {
  let last: Record<string, number> = {};
  try {
    await waitFor(
      async () => {
        last = excess(await countActiveHandles(), baseline);
        return Object.keys(last).length === 0;
      },
      { timeoutInMs, description: 'open handles to be released' },
    );
  } catch (error) {
    throw new Error(`Handles still open beyond the baseline: ${JSON.stringify(last)}`, { cause: error });
  }
}
