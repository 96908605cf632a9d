/**
 * The newest samples of a duration (a call's latency, a message's time in a worker) and a percentile of
 * those not too old, so that an endpoint that slows down or speeds up is seen. Pure: the caller passes
 * the time.
 */
export interface RecentSamplesOptions {
  /** How many of the newest samples are kept. */
  readonly sampleSize: number;
  /** Samples older than this no longer count. */
  readonly maxAgeInMs: number;
}

interface Sample {
  readonly atInMs: number;
  readonly value: number;
}

export class RecentSamples {
  readonly #options: RecentSamplesOptions;
  /** Ring buffer of the newest samples. */
  readonly #samples: Sample[] = [];
  #next = 0;

  constructor(options: RecentSamplesOptions) {
    this.#options = options;
  }

  /** Records a sample; a negative or non-finite one is ignored. */
  observe(value: number, nowInMs: number): void {
    if (!Number.isFinite(value) || value < 0) return;
    const sample = { atInMs: nowInMs, value };
    if (this.#samples.length < this.#options.sampleSize) {
      this.#samples.push(sample);
    } else {
      this.#samples[this.#next] = sample;
    }
    this.#next = (this.#next + 1) % this.#options.sampleSize;
  }

  /**
   * The `fraction` percentile (in (0, 1]) of the samples not older than the maximum age, and of
   * `unfinished`: values still growing (a call or message still under way), counted at what they have
   * reached so far. Undefined without any.
   */
  percentile(fraction: number, nowInMs: number, unfinished: readonly number[] = []): number | undefined {
    const recent = this.#samples
      .filter((sample) => nowInMs - sample.atInMs <= this.#options.maxAgeInMs)
      .map((sample) => sample.value)
      .concat(unfinished)
      .sort((a, b) => a - b);
    if (recent.length === 0) return undefined;
    const index = Math.min(recent.length - 1, Math.ceil(fraction * recent.length) - 1);
    return recent[Math.max(0, index)];
  }
}
