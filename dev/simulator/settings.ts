/** Rate limits of one simulated deployment. Per-minute figures are enforced over shorter sliding windows. */
export interface LimitSettings {
  readonly requestsPerMinute: number;
  readonly tokensPerMinute: number;
  /** Requests are enforced as `requestsPerMinute * requestWindowInMs / 60_000` per sliding window (Azure uses 1 s or 10 s). */
  readonly requestWindowInMs: number;
  /** Tokens are enforced as `tokensPerMinute * tokenWindowInMs / 60_000` per sliding window. */
  readonly tokenWindowInMs: number;
  /** Rejected (429) requests take a request slot too, as Azure documents. */
  readonly countRejectedRequests: boolean;
  /**
   * Completion tokens charged at admission when `max_tokens` is null or absent. `'remainingContext'`
   * charges everything the model could still generate (context length minus prompt), which is what
   * "null = up to the context" means and what makes unbounded requests expensive on the real service.
   */
  readonly defaultMaxTokensForAdmission: number | 'remainingContext';
}

/**
 * How long a generation takes: time to first token (`baseInMs` plus up to `jitterInMs`), then
 * `perCompletionTokenInMs` per output token, both multiplied by one lognormal draw per request
 * (mean 1, spread `tailSigma`) so that a few answers take several times the typical one.
 */
export interface LatencySettings {
  /** Time to first token. */
  readonly baseInMs: number;
  readonly perCompletionTokenInMs: number;
  /** Up to this much extra time to first token, drawn from the fault generator (`faults.seed`). */
  readonly jitterInMs: number;
  /** Sigma of the lognormal multiplier; 0 (the default) gives every request the same speed. */
  readonly tailSigma: number;
  /** Seed of the generator behind the multiplier; setting it restarts the sequence. */
  readonly seed: number;
}

/** Every `everyN` chat requests, the last `length` of them get a 429 regardless of the limits. */
export interface Burst429Settings {
  readonly everyN: number;
  readonly length: number;
  readonly retryAfterInMs: number;
}

export interface FaultSettings {
  /** Share of admitted requests answered with a 500. */
  readonly errorRate: number;
  /** Share of admitted requests held open without an answer for `hangInMs` (then 504), or until the client leaves. */
  readonly hangRate: number;
  readonly hangInMs: number;
  readonly burst429: Burst429Settings | null;
  /** Share of responses whose `x-ratelimit-remaining-tokens` is negative, as seen in the wild. */
  readonly negativeRemainingTokensRate: number;
  /** The next chat request gets a daily-quota 429 (`retry-after: 86400`); the flag then clears itself. */
  readonly dailyQuotaOnce: boolean;
  /** Seed of the generator behind every random fault and jitter; setting it restarts the sequence. */
  readonly seed: number;
}

export const DEFAULT_LIMIT_SETTINGS: LimitSettings = {
  requestsPerMinute: 1_000,
  tokensPerMinute: 200_000,
  requestWindowInMs: 10_000,
  tokenWindowInMs: 60_000,
  countRejectedRequests: true,
  defaultMaxTokensForAdmission: 'remainingContext',
};

export const DEFAULT_LATENCY_SETTINGS: LatencySettings = {
  baseInMs: 40,
  perCompletionTokenInMs: 2,
  jitterInMs: 20,
  tailSigma: 0,
  seed: 1,
};

export const DEFAULT_FAULT_SETTINGS: FaultSettings = {
  errorRate: 0,
  hangRate: 0,
  hangInMs: 120_000,
  burst429: null,
  negativeRemainingTokensRate: 0,
  dailyQuotaOnce: false,
  seed: 1,
};

/** A setting with a value the simulator cannot use; `setting` names it as the caller spelled it. */
export class SimulatorSettingsError extends Error {
  override readonly name = 'SimulatorSettingsError';
  readonly code = 'invalid_simulator_setting';
  readonly setting: string;

  constructor(setting: string, expected: string, options?: ErrorOptions) {
    super(`Invalid simulator setting \`${setting}\`: expected ${expected}`, options);
    this.setting = setting;
  }
}

type Check = (value: unknown) => boolean;

const isInteger =
  (min: number, max = Number.MAX_SAFE_INTEGER): Check =>
  (value) =>
    typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
const isNumber =
  (min: number, max = Number.MAX_VALUE): Check =>
  (value) =>
    typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max;
const isRate: Check = isNumber(0, 1);
const isBoolean: Check = (value) => typeof value === 'boolean';

function objectInput(input: unknown, what: string): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new SimulatorSettingsError(what, 'a JSON object');
  }
  return input as Record<string, unknown>;
}

function pick<T>(
  input: Record<string, unknown>,
  what: string,
  rules: Record<keyof T & string, readonly [Check, string]>,
): Partial<T> {
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    const rule = (rules as Record<string, readonly [Check, string] | undefined>)[key];
    if (rule === undefined) {
      throw new SimulatorSettingsError(`${what}.${key}`, `one of ${Object.keys(rules).join(', ')}`);
    }
    if (!rule[0](value)) {
      throw new SimulatorSettingsError(`${what}.${key}`, rule[1]);
    }
    result[key] = value;
  }
  return result as Partial<T>;
}

export function parseLimitSettings(input: unknown, what = 'limits'): Partial<LimitSettings> {
  return pick<LimitSettings>(objectInput(input, what), what, {
    requestsPerMinute: [isInteger(1), 'an integer from 1 and up'],
    tokensPerMinute: [isInteger(1), 'an integer from 1 and up'],
    requestWindowInMs: [isInteger(1), 'an integer number of milliseconds from 1 and up'],
    tokenWindowInMs: [isInteger(1), 'an integer number of milliseconds from 1 and up'],
    countRejectedRequests: [isBoolean, 'a boolean'],
    defaultMaxTokensForAdmission: [
      (value) => value === 'remainingContext' || isInteger(0)(value),
      'an integer from 0 and up or "remainingContext"',
    ],
  });
}

export function parseLatencySettings(input: unknown, what = 'latency'): Partial<LatencySettings> {
  return pick<LatencySettings>(objectInput(input, what), what, {
    baseInMs: [isNumber(0), 'a number of milliseconds from 0 and up'],
    perCompletionTokenInMs: [isNumber(0), 'a number of milliseconds from 0 and up'],
    jitterInMs: [isNumber(0), 'a number of milliseconds from 0 and up'],
    tailSigma: [isNumber(0, 3), 'a number from 0 to 3'],
    seed: [isInteger(0, 0xffff_ffff), 'an integer from 0 to 4294967295'],
  });
}

export function parseFaultSettings(input: unknown, what = 'faults'): Partial<FaultSettings> {
  const faults = pick<FaultSettings>(objectInput(input, what), what, {
    errorRate: [isRate, 'a number from 0 to 1'],
    hangRate: [isRate, 'a number from 0 to 1'],
    hangInMs: [isInteger(0), 'an integer number of milliseconds from 0 and up'],
    burst429: [(value) => value === null || (typeof value === 'object' && !Array.isArray(value)), 'null or an object'],
    negativeRemainingTokensRate: [isRate, 'a number from 0 to 1'],
    dailyQuotaOnce: [isBoolean, 'a boolean'],
    seed: [isInteger(0, 0xffff_ffff), 'an integer from 0 to 4294967295'],
  });
  if (faults.burst429 !== undefined && faults.burst429 !== null) {
    const burst = pick<Burst429Settings>(objectInput(faults.burst429, `${what}.burst429`), `${what}.burst429`, {
      everyN: [isInteger(1), 'an integer from 1 and up'],
      length: [isInteger(0), 'an integer from 0 and up'],
      retryAfterInMs: [isInteger(1), 'an integer number of milliseconds from 1 and up'],
    });
    if (burst.everyN === undefined || burst.length === undefined) {
      throw new SimulatorSettingsError(`${what}.burst429`, 'both `everyN` and `length`');
    }
    if (burst.length > burst.everyN) {
      throw new SimulatorSettingsError(`${what}.burst429.length`, 'at most `everyN`');
    }
    return { ...faults, burst429: { retryAfterInMs: 1_000, ...burst } as Burst429Settings };
  }
  return faults;
}
