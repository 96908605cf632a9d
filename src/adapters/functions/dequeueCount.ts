/**
 * The queue trigger's `dequeueCount` as a number. The host sends it as an int64, and how that reaches the
 * handler depends on the worker's protobuf decoding: a number, a string (int64 as JSON), a bigint, or a
 * Long-like object (`{ low, high }`, usually with `toNumber()`). Anything else, or a value that is not a
 * non-negative safe integer, reads as unknown.
 */
export function readDequeueCount(triggerMetadata: Readonly<Record<string, unknown>> | undefined): number | undefined {
  return toCount(triggerMetadata?.['dequeueCount']);
}

const TWO_TO_THE_32 = 4_294_967_296;

function toCount(value: unknown): number | undefined {
  let count: unknown = value;
  if (typeof value === 'string') {
    count = /^\s*\d+\s*$/.test(value) ? Number(value) : undefined;
  } else if (typeof value === 'bigint') {
    count = Number(value);
  } else if (typeof value === 'object' && value !== null) {
    const long = value as { toNumber?: unknown; low?: unknown; high?: unknown };
    if (typeof long.toNumber === 'function') {
      count = (long.toNumber as () => unknown).call(value);
    } else if (typeof long.low === 'number' && typeof long.high === 'number') {
      count = long.high * TWO_TO_THE_32 + (long.low >>> 0);
    }
  }
  return typeof count === 'number' && Number.isSafeInteger(count) && count >= 0 ? count : undefined;
}
