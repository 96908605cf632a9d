/** Small, locale-independent formatters shared by the progress line, the summary and the job table. */

const COUNT_FORMAT = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function formatCount(value: number): string {
  return COUNT_FORMAT.format(value);
}

/** 950, 12.3k, 4.56M: token counts are read at a glance, not audited. */
export function formatTokens(value: number): string {
  if (value < 1_000) return String(value);
  if (value < 1_000_000) return `${trimZeros((value / 1_000).toFixed(value < 10_000 ? 2 : 1))}k`;
  return `${trimZeros((value / 1_000_000).toFixed(value < 10_000_000 ? 2 : 1))}M`;
}

function trimZeros(text: string): string {
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

export interface CostAmount {
  readonly amount: number;
  readonly currency: string;
}

/** Batch costs are often fractions of a cent, so small amounts keep four decimals. */
export function formatCost(cost: CostAmount): string {
  const { amount, currency } = cost;
  let digits: string;
  if (amount === 0) digits = '0.00';
  else if (amount < 0.0001) digits = '<0.0001';
  else digits = amount.toFixed(amount < 1 ? 4 : 2);
  if (currency === 'USD') return digits.startsWith('<') ? `<$${digits.slice(1)}` : `$${digits}`;
  return `${digits} ${currency}`;
}

/** 42s, 3m 05s, 2h 04m: seconds are dropped once hours show. */
export function formatDurationInSeconds(totalSeconds: number): string {
  const seconds = Math.max(0, Math.round(totalSeconds));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${String(s).padStart(2, '0')}s`;
  return `${s}s`;
}

/** Unix seconds as a UTC timestamp; the API's times are UTC and so is every machine that logs them. */
export function formatTimestamp(unixSeconds: number | null | undefined): string {
  if (unixSeconds === null || unixSeconds === undefined) return '-';
  return new Date(unixSeconds * 1000)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, 'Z');
}
