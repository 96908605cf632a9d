import { describe, expect, it } from 'vitest';
import { readSimulatorEnv } from '../../dev/simulator/readSimulatorEnv.js';
import {
  parseFaultSettings,
  parseLatencySettings,
  parseLimitSettings,
  SimulatorSettingsError,
} from '../../dev/simulator/settings.js';

function settingOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    if (error instanceof SimulatorSettingsError) {
      return error.setting;
    }
    throw error;
  }
  throw new Error('expected a SimulatorSettingsError');
}

describe('settings parsing', () => {
  it('accepts valid partial settings', () => {
    expect(parseLimitSettings({ requestsPerMinute: 60, defaultMaxTokensForAdmission: 'remainingContext' })).toEqual({
      requestsPerMinute: 60,
      defaultMaxTokensForAdmission: 'remainingContext',
    });
    expect(parseLatencySettings({ baseInMs: 0 })).toEqual({ baseInMs: 0 });
    expect(parseFaultSettings({ burst429: { everyN: 10, length: 2 } })).toEqual({
      burst429: { everyN: 10, length: 2, retryAfterInMs: 1_000 },
    });
    expect(parseFaultSettings({ burst429: null })).toEqual({ burst429: null });
  });

  it('names the setting it cannot use', () => {
    expect(settingOf(() => parseLimitSettings({ requestsPerMinute: 0 }))).toBe('limits.requestsPerMinute');
    expect(settingOf(() => parseLimitSettings({ rpm: 10 }))).toBe('limits.rpm');
    expect(settingOf(() => parseLimitSettings('fast'))).toBe('limits');
    expect(settingOf(() => parseFaultSettings({ errorRate: 1.5 }))).toBe('faults.errorRate');
    expect(settingOf(() => parseFaultSettings({ burst429: { everyN: 2, length: 3 } }))).toBe('faults.burst429.length');
    expect(settingOf(() => parseFaultSettings({ burst429: { everyN: 2 } }))).toBe('faults.burst429');
    expect(settingOf(() => parseLatencySettings({ jitterInMs: -1 }))).toBe('latency.jitterInMs');
    expect(settingOf(() => parseLatencySettings({ tailSigma: 4 }))).toBe('latency.tailSigma');
    expect(settingOf(() => parseLatencySettings({ seed: 1.5 }))).toBe('latency.seed');
  });
});

describe('readSimulatorEnv', () => {
  it('uses the defaults for an empty environment', () => {
    expect(readSimulatorEnv({})).toEqual({ host: '127.0.0.1', port: 8000, limits: {}, latency: {}, faults: {} });
  });

  it('reads every variable', () => {
    expect(
      readSimulatorEnv({
        SIMULATOR_PORT: '0',
        SIMULATOR_HOST: '127.0.0.2',
        SIMULATOR_API_KEY: 'k'.repeat(32),
        SIMULATOR_MODEL: 'Phi-3-small-8k-instruct',
        SIMULATOR_RPM: '60',
        SIMULATOR_TPM: '5000',
        SIMULATOR_LATENCY_MS: '0',
        SIMULATOR_LATENCY_PER_TOKEN_MS: '0.5',
        SIMULATOR_LATENCY_JITTER_MS: '30',
        SIMULATOR_LATENCY_TAIL_SIGMA: '0.8',
        SIMULATOR_LATENCY_SEED: '9',
        SIMULATOR_ERROR_RATE: '0.1',
        SIMULATOR_HANG_RATE: '0.01',
        SIMULATOR_SEED: '7',
      }),
    ).toEqual({
      host: '127.0.0.2',
      port: 0,
      apiKey: 'k'.repeat(32),
      model: 'Phi-3-small-8k-instruct',
      limits: { requestsPerMinute: 60, tokensPerMinute: 5_000 },
      latency: { baseInMs: 0, perCompletionTokenInMs: 0.5, jitterInMs: 30, tailSigma: 0.8, seed: 9 },
      faults: { errorRate: 0.1, hangRate: 0.01, seed: 7 },
    });
  });

  it.each([
    ['SIMULATOR_PORT', '70000'],
    ['SIMULATOR_PORT', 'eighty'],
    ['SIMULATOR_RPM', '0'],
    ['SIMULATOR_TPM', '1.5'],
    ['SIMULATOR_LATENCY_MS', '-3'],
    ['SIMULATOR_LATENCY_TAIL_SIGMA', '5'],
    ['SIMULATOR_LATENCY_SEED', '-1'],
    ['SIMULATOR_ERROR_RATE', '2'],
    ['SIMULATOR_HANG_RATE', 'often'],
    ['SIMULATOR_API_KEY', '  '],
  ])('stops on %s=%j, naming the variable', (name, value) => {
    expect(settingOf(() => readSimulatorEnv({ [name]: value }))).toBe(name);
  });

  it('does not repeat the key in its error', () => {
    const error = (() => {
      try {
        readSimulatorEnv({ SIMULATOR_API_KEY: ' \t ' });
      } catch (caught) {
        return caught as Error;
      }
      throw new Error('expected an error');
    })();
    expect(error.message).toMatch(/SIMULATOR_API_KEY/);
    expect(error.message).not.toContain('\t');
  });
});
