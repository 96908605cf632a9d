export interface WaitForOptions {
  /** Give up after this long. Default 10 s. */
  readonly timeoutInMs?: number;
  /** Pause between checks. Default 20 ms. */
  readonly intervalInMs?: number;
  /** Named in the timeout error. */
  readonly description?: string;
}

export class WaitForTimeoutError extends Error {
  override readonly name = 'WaitForTimeoutError';
  readonly code = 'WaitForTimeout';
}

/**
 * Polls `condition` until it returns something truthy and resolves with that value; rejects after the
 * deadline with the last error the condition threw (if any). For conditions, not for sleeping.
 */
export async function waitFor<T>(
  condition: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  options: WaitForOptions = {},
): Promise<T> {
  const timeoutInMs = options.timeoutInMs ?? 10_000;
  const intervalInMs = options.intervalInMs ?? 20;
  const deadline = Date.now() + timeoutInMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) {
        return value;
      }
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new WaitForTimeoutError(
        `Timed out after ${timeoutInMs} ms waiting for ${options.description ?? 'a condition'}.`,
        { cause: lastError },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalInMs));
  }
}

/** Resolves with the promise's value, or rejects when it has not settled within `timeoutInMs`. */
export async function withDeadline<T>(promise: Promise<T>, timeoutInMs: number, description: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new WaitForTimeoutError(`Timed out after ${timeoutInMs} ms waiting for ${description}.`)),
      timeoutInMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
