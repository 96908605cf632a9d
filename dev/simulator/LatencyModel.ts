import { createSeededRandom, type RandomSource } from './seededRandom.js';
import type { LatencySettings } from './settings.js';

/** How one generation is paced: the first token after `firstTokenInMs`, then one every `perTokenInMs`. */
export interface GenerationTiming {
  readonly firstTokenInMs: number;
  readonly perTokenInMs: number;
  /** The lognormal draw both figures were multiplied by (1 when `tailSigma` is 0). */
  readonly multiplier: number;
}

/** Time until the whole answer of `completionTokens` tokens is out. */
export function generationTimeInMs(timing: GenerationTiming, completionTokens: number): number {
  return timing.firstTokenInMs + timing.perTokenInMs * completionTokens;
}

/**
 * Draws each request's timing. Every draw takes two values from its own seeded generator whatever
 * the settings are, so one seed gives one sequence of multipliers even when the spread changes.
 */
export class LatencyModel {
  #settings: LatencySettings;
  #random: RandomSource;

  constructor(settings: LatencySettings) {
    this.#settings = settings;
    this.#random = createSeededRandom(settings.seed);
  }

  get settings(): LatencySettings {
    return this.#settings;
  }

  /** A new seed restarts the sequence; other changes keep it going. */
  update(changes: Partial<LatencySettings>): void {
    this.#settings = { ...this.#settings, ...changes };
    if (changes.seed !== undefined) {
      this.#random = createSeededRandom(changes.seed);
    }
  }

  /** `jitterFraction` in [0, 1): the share of `jitterInMs` added to the time to first token. */
  next(jitterFraction: number): GenerationTiming {
    const { baseInMs, jitterInMs, perCompletionTokenInMs, tailSigma } = this.#settings;
    const multiplier = lognormalMultiplier(tailSigma, this.#random(), this.#random());
    return {
      firstTokenInMs: (baseInMs + jitterInMs * jitterFraction) * multiplier,
      perTokenInMs: perCompletionTokenInMs * multiplier,
      multiplier,
    };
  }
}

/**
 * exp(sigma * Z - sigma^2 / 2) with Z standard normal (Box-Muller from two uniform draws): a
 * multiplier whose mean is 1, whose median is a little below 1 and whose right tail grows with sigma
 * (sigma 0.5: p99 about 2.8x the median; sigma 1: about 10x).
 */
export function lognormalMultiplier(sigma: number, uniform1: number, uniform2: number): number {
  if (sigma === 0) {
    return 1;
  }
  const z = Math.sqrt(-2 * Math.log(1 - uniform1)) * Math.cos(2 * Math.PI * uniform2);
  return Math.exp(sigma * z - (sigma * sigma) / 2);
}

/** One piece of a streamed answer and how long after the previous piece it is sent. */
export interface StreamStep {
  readonly content: string;
  readonly delayInMs: number;
}

/**
 * How a streamed answer is paced: an empty first piece (the chunk with the role) when the first
 * token is ready, then one piece per word, each after the per-token time of its share of the
 * answer's tokens. The delays add up to {@link generationTimeInMs}: streaming changes when the
 * bytes arrive, not when the answer is complete.
 */
export function streamSteps(content: string, completionTokens: number, timing: GenerationTiming): StreamStep[] {
  const words = content === '' ? [] : content.split(' ').map((word, i) => (i === 0 ? word : ` ${word}`));
  const tokensBefore = (i: number): number => Math.round((i * completionTokens) / Math.max(1, words.length));
  const steps: StreamStep[] = [{ content: '', delayInMs: timing.firstTokenInMs }];
  words.forEach((word, i) => {
    steps.push({ content: word, delayInMs: timing.perTokenInMs * (tokensBefore(i + 1) - tokensBefore(i)) });
  });
  if (words.length === 0) {
    // Nothing to show, yet the tokens (if any) still take their time.
    steps.push({ content: '', delayInMs: timing.perTokenInMs * completionTokens });
  }
  return steps;
}
