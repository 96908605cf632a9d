const DAY_IN_MS = 86_400_000;

/** Batch costs are often fractions of a cent: two significant digits at least, never an exponent. */
export function money(amount: number | null | undefined, currency: string): string {
  if (amount === null || amount === undefined) return '–';
  const decimals = amount === 0 || amount >= 1 ? 2 : Math.min(9, Math.max(2, Math.ceil(-Math.log10(amount)) + 1));
  let digits = amount.toFixed(decimals);
  while (digits.endsWith('0') && digits.length - digits.indexOf('.') > 3) digits = digits.slice(0, -1);
  return currency === 'USD' ? `$${digits}` : `${digits} ${currency}`;
}

/** The last `count` UTC days as YYYY-MM-DD, oldest first, ending with the day of `nowInMs`. */
export function utcDays(count: number, nowInMs: number): string[] {
  const now = new Date(nowInMs);
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const days: string[] = [];
  for (let i = count - 1; i >= 0; i -= 1) days.push(new Date(today - i * DAY_IN_MS).toISOString().slice(0, 10));
  return days;
}

/** A fraction as a whole percentage: 0.625 is "63%" (never more than 100%). */
export function percent(fraction: number): string {
  return `${Math.round(Math.min(1, Math.max(0, fraction)) * 100)}%`;
}

/** A priority as the page shows it: the level, or "weight 12". */
export function priorityLabel(priority: string | number): string {
  return typeof priority === 'number' ? `weight ${priority}` : priority;
}
