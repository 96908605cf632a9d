import { NANOS_PER_UNIT } from './pricing.js';

const AMOUNT = /^(\d{1,7})(?:\.(\d{1,9}))?$/;

/**
 * Reads a decimal amount ("2.50", "0.000125", "3") as integer nano-units, exactly (no floating point).
 * Up to 9 decimals and below 10 million units, so the result is a safe integer. Undefined if malformed.
 */
export function parseAmountToNanos(text: string): number | undefined {
  const match = AMOUNT.exec(text.trim());
  if (match === null) return undefined;
  const whole = Number(match[1]);
  const fraction = Number((match[2] ?? '').padEnd(9, '0'));
  return whole * NANOS_PER_UNIT + fraction;
}

/**
 * Integer nano-units as an exact decimal string with at least `minDecimals` decimals and no
 * trailing zeros beyond them: 2_500_000_000 → "2.50", 125_000 → "0.000125".
 */
export function formatNanos(nanos: number, minDecimals = 2): string {
  if (!Number.isSafeInteger(nanos)) throw new RangeError(`Not an integer amount of nano-units: ${nanos}`);
  const sign = nanos < 0 ? '-' : '';
  const abs = Math.abs(nanos);
  const whole = Math.floor(abs / NANOS_PER_UNIT);
  let fraction = String(abs % NANOS_PER_UNIT).padStart(9, '0');
  while (fraction.length > minDecimals && fraction.endsWith('0')) fraction = fraction.slice(0, -1);
  return fraction === '' ? `${sign}${whole}` : `${sign}${whole}.${fraction}`;
}

/** The amount as a JSON number: exact to the nano-unit for any amount below 9 million units. */
export function nanosToNumber(nanos: number): number {
  return Number(formatNanos(nanos, 0));
}
