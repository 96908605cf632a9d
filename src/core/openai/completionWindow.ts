import { BadRequestError } from '../errors.js';

/** OpenAI's only window; ours is the default too. */
export const DEFAULT_COMPLETION_WINDOW = '24h';

export interface CompletionWindowLimits {
  readonly minInMs: number;
  readonly maxInMs: number;
}

/** `1h` to `7d` as an extension of OpenAI's `24h`. */
export const COMPLETION_WINDOW_LIMITS: CompletionWindowLimits = { minInMs: 3_600_000, maxInMs: 7 * 86_400_000 };

const UNIT_IN_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * The window's length: a whole number and a unit (`s`, `m`, `h`, `d`), within the limits. Seconds and
 * minutes only pass limits lowered below an hour (a test setting).
 */
export function parseCompletionWindow(
  value: unknown,
  limits: CompletionWindowLimits = COMPLETION_WINDOW_LIMITS,
): number {
  const match = typeof value === 'string' ? /^([1-9][0-9]{0,5})([smhd])$/.exec(value) : null;
  const inMs = match === null ? undefined : Number(match[1]) * UNIT_IN_MS[match[2]!]!;
  if (inMs === undefined || inMs < limits.minInMs || inMs > limits.maxInMs) {
    throw new BadRequestError(
      `Invalid completion_window ${JSON.stringify(value)}: expected a window from ${describe(limits.minInMs)} to ${describe(limits.maxInMs)}, such as "24h"`,
      'completion_window',
    );
  }
  return inMs;
}

function describe(inMs: number): string {
  for (const unit of ['d', 'h', 'm', 's']) {
    const size = UNIT_IN_MS[unit]!;
    if (inMs % size === 0) return `${inMs / size}${unit}`;
  }
  return `${inMs}ms`;
}
