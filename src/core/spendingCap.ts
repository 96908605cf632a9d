import { LineErrorCode, type LineError } from './lineErrors.js';
import { formatNanos, parseAmountToNanos } from './money.js';

/** Blob metadata key of a job's spending cap: a decimal amount in the price currency, e.g. "2.50". */
export const MAX_COST_METADATA = 'maxcost';

export const SpendingCapErrorCode = {
  reached: LineErrorCode.spendingCapReached,
  invalid: 'invalid_max_cost',
} as const;

/**
 * Spend of a job as its calls are billed: every billed call, repeated ones included, in nano-units.
 * `reserved` holds the maximum cost of calls in flight for a capped job. The field names are lower
 * case because they appear in Cosmos patch conditions (the local stand-in lower-cases those).
 */
export interface JobSpend {
  readonly committed: number;
  readonly reserved: number;
  readonly calls: number;
  /**
   * Of `calls`, those whose answer never reached a worker (timeout, broken connection): billed or not,
   * nobody can tell. Counted live; at finalisation the ledger's exact count (crashed calls included).
   */
  readonly unconfirmedCalls?: number | undefined;
  /** When the first request was refused for the cap; from then on the job sends nothing more. */
  readonly capReachedAtInMs?: number | undefined;
}

export const NO_SPEND: JobSpend = { committed: 0, reserved: 0, calls: 0, unconfirmedCalls: 0 };

export type SpendingCapFields = { readonly maxCostInNanos?: number; readonly jobError?: LineError };

/**
 * The job's cap from its blob metadata, else the default. A cap that cannot be read becomes 0 with a
 * job error: spending nothing is the only safe reading of a limit nobody can interpret.
 */
export function spendingCapFromMetadata(
  metadata: Readonly<Record<string, string>>,
  defaultMaxCostInNanos: number | undefined,
): SpendingCapFields {
  const key = Object.keys(metadata).find((k) => k.toLowerCase() === MAX_COST_METADATA);
  const text = key === undefined ? undefined : metadata[key];
  if (text === undefined || text.trim() === '')
    return defaultMaxCostInNanos === undefined ? {} : { maxCostInNanos: defaultMaxCostInNanos };
  const parsed = parseAmountToNanos(text);
  if (parsed !== undefined) return { maxCostInNanos: parsed };
  return {
    maxCostInNanos: 0,
    jobError: {
      code: SpendingCapErrorCode.invalid,
      message: `Blob metadata ${MAX_COST_METADATA}=${JSON.stringify(text)} is not a decimal amount such as 2.50; no line is sent`,
      param: MAX_COST_METADATA,
    },
  };
}

export function spendingCapError(maxCostInNanos: number, currency: string): LineError {
  return {
    code: SpendingCapErrorCode.reached,
    message: `Not sent: the job's spending cap of ${formatNanos(maxCostInNanos)} ${currency} would be exceeded`,
  };
}
