import { SimulatorSettingsError } from './settings.js';
import type { StartPhi3SimulatorOptions } from './startPhi3Simulator.js';

export const DEFAULT_SIMULATOR_PORT = 8000;

type Env = Readonly<Record<string, string | undefined>>;

function read(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function readNumber(env: Env, name: string, expected: string, isValid: (value: number) => boolean): number | undefined {
  const raw = read(env, name);
  if (raw === undefined) {
    return undefined;
  }
  const value = Number(raw);
  if (!isValid(value)) {
    throw new SimulatorSettingsError(name, `${expected}, got "${raw}"`);
  }
  return value;
}

const isIntegerFrom =
  (min: number, max = Number.MAX_SAFE_INTEGER) =>
  (value: number): boolean =>
    Number.isInteger(value) && value >= min && value <= max;
const isNumberFrom =
  (min: number, max = Number.MAX_VALUE) =>
  (value: number): boolean =>
    Number.isFinite(value) && value >= min && value <= max;

/**
 * Start-up options of `npm run simulator` from the environment. Throws {@link SimulatorSettingsError}
 * naming the variable when a value is unusable (never echoing the key).
 */
export function readSimulatorEnv(env: Env): StartPhi3SimulatorOptions & { readonly port: number } {
  const apiKey = env.SIMULATOR_API_KEY;
  if (apiKey !== undefined && apiKey.trim().length === 0) {
    throw new SimulatorSettingsError('SIMULATOR_API_KEY', 'a non-empty key');
  }
  const port = readNumber(env, 'SIMULATOR_PORT', 'an integer from 0 to 65535', isIntegerFrom(0, 65_535));
  const requestsPerMinute = readNumber(env, 'SIMULATOR_RPM', 'an integer from 1 and up', isIntegerFrom(1));
  const tokensPerMinute = readNumber(env, 'SIMULATOR_TPM', 'an integer from 1 and up', isIntegerFrom(1));
  const baseInMs = readNumber(env, 'SIMULATOR_LATENCY_MS', 'a number of milliseconds from 0 and up', isNumberFrom(0));
  const perCompletionTokenInMs = readNumber(
    env,
    'SIMULATOR_LATENCY_PER_TOKEN_MS',
    'a number of milliseconds from 0 and up',
    isNumberFrom(0),
  );
  const jitterInMs = readNumber(
    env,
    'SIMULATOR_LATENCY_JITTER_MS',
    'a number of milliseconds from 0 and up',
    isNumberFrom(0),
  );
  const tailSigma = readNumber(env, 'SIMULATOR_LATENCY_TAIL_SIGMA', 'a number from 0 to 3', isNumberFrom(0, 3));
  const latencySeed = readNumber(
    env,
    'SIMULATOR_LATENCY_SEED',
    'an integer from 0 to 4294967295',
    isIntegerFrom(0, 0xffff_ffff),
  );
  const errorRate = readNumber(env, 'SIMULATOR_ERROR_RATE', 'a number from 0 to 1', isNumberFrom(0, 1));
  const hangRate = readNumber(env, 'SIMULATOR_HANG_RATE', 'a number from 0 to 1', isNumberFrom(0, 1));
  const seed = readNumber(env, 'SIMULATOR_SEED', 'an integer from 0 to 4294967295', isIntegerFrom(0, 0xffff_ffff));

  const defined = <T extends object>(value: T): Partial<T> =>
    Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;

  return {
    host: read(env, 'SIMULATOR_HOST') ?? '127.0.0.1',
    port: port ?? DEFAULT_SIMULATOR_PORT,
    ...(apiKey !== undefined ? { apiKey: apiKey.trim() } : {}),
    ...(read(env, 'SIMULATOR_MODEL') !== undefined ? { model: read(env, 'SIMULATOR_MODEL') } : {}),
    limits: defined({ requestsPerMinute, tokensPerMinute }),
    latency: defined({ baseInMs, perCompletionTokenInMs, jitterInMs, tailSigma, seed: latencySeed }),
    faults: defined({ errorRate, hangRate, seed }),
  };
}
