import { describe, expect, it } from 'vitest';
import {
  generationTimeInMs,
  LatencyModel,
  lognormalMultiplier,
  streamSteps,
} from '../../dev/simulator/LatencyModel.js';
import { DEFAULT_LATENCY_SETTINGS } from '../../dev/simulator/settings.js';

const quantile = (values: readonly number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
};

describe('LatencyModel', () => {
  it('gives every request the same speed without a tail', () => {
    const model = new LatencyModel({
      ...DEFAULT_LATENCY_SETTINGS,
      baseInMs: 100,
      perCompletionTokenInMs: 20,
      jitterInMs: 50,
    });
    const timing = model.next(0.5);
    expect(timing).toEqual({ firstTokenInMs: 125, perTokenInMs: 20, multiplier: 1 });
    expect(generationTimeInMs(timing, 10)).toBe(325);
  });

  it('draws a heavy-tailed multiplier with mean 1, the same sequence for the same seed', () => {
    const settings = {
      ...DEFAULT_LATENCY_SETTINGS,
      baseInMs: 1_000,
      perCompletionTokenInMs: 0,
      jitterInMs: 0,
      tailSigma: 0.6,
      seed: 42,
    };
    const draw = (model: LatencyModel) => Array.from({ length: 4_000 }, () => model.next(0).multiplier);
    const multipliers = draw(new LatencyModel(settings));
    expect(draw(new LatencyModel(settings))).toEqual(multipliers);
    expect(draw(new LatencyModel({ ...settings, seed: 43 }))).not.toEqual(multipliers);
    const mean = multipliers.reduce((sum, m) => sum + m, 0) / multipliers.length;
    expect(mean).toBeGreaterThan(0.95);
    expect(mean).toBeLessThan(1.05);
    // exp(0.6 * 2.326) = 4.04 between the median and p99 of a lognormal with sigma 0.6.
    expect(quantile(multipliers, 0.99) / quantile(multipliers, 0.5)).toBeGreaterThan(3.5);
    expect(Math.min(...multipliers)).toBeGreaterThan(0);
  });

  it('restarts the sequence when the seed is set, and keeps it going on other changes', () => {
    const settings = { ...DEFAULT_LATENCY_SETTINGS, tailSigma: 1, seed: 5 };
    const model = new LatencyModel(settings);
    const first = [model.next(0).multiplier, model.next(0).multiplier];
    model.update({ seed: 5 });
    expect([model.next(0).multiplier, model.next(0).multiplier]).toEqual(first);
    model.update({ baseInMs: 7 });
    expect(model.settings).toMatchObject({ baseInMs: 7, seed: 5, tailSigma: 1 });
  });

  it('lognormalMultiplier is 1 for sigma 0 and the median at the middle draw', () => {
    expect(lognormalMultiplier(0, 0.3, 0.9)).toBe(1);
    // u1 = 1 - e^-0 gives z = 0: the multiplier is exp(-sigma^2 / 2).
    expect(lognormalMultiplier(1, 0, 0)).toBeCloseTo(Math.exp(-1 / 2 + 0), 12);
  });
});

describe('streamSteps', () => {
  it('sends the role when the first token is ready, then the words paced by their tokens, in the unstreamed time', () => {
    const timing = { firstTokenInMs: 300, perTokenInMs: 25, multiplier: 1 };
    const steps = streamSteps('Simulated answer abc the end.', 9, timing);
    expect(steps[0]).toEqual({ content: '', delayInMs: 300 });
    expect(
      steps
        .slice(1)
        .map((step) => step.content)
        .join(''),
    ).toBe('Simulated answer abc the end.');
    expect(steps.slice(1).every((step) => step.delayInMs > 0)).toBe(true);
    expect(steps.reduce((sum, step) => sum + step.delayInMs, 0)).toBe(generationTimeInMs(timing, 9));
  });

  it('takes the time of the tokens even when there is nothing to show', () => {
    const steps = streamSteps('', 4, { firstTokenInMs: 10, perTokenInMs: 5, multiplier: 1 });
    expect(steps.reduce((sum, step) => sum + step.delayInMs, 0)).toBe(30);
  });
});
