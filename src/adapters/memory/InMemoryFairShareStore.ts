import type { FairShareStore } from '../../app/ports.js';
import { EMPTY_FAIR_SHARE, type FairShareState } from '../../core/fairShare.js';

/** One process's stand-in for the shared fair-share state. */
export class InMemoryFairShareStore implements FairShareStore {
  readonly #states = new Map<string, FairShareState>();

  async read(deployment: string): Promise<FairShareState> {
    return this.#states.get(deployment) ?? EMPTY_FAIR_SHARE;
  }

  async update<T>(
    deployment: string,
    change: (state: FairShareState) => { state: FairShareState; result: T },
  ): Promise<T> {
    await Promise.resolve();
    // Read, changed and written with no wait between, as a conditional replace that won would be; a copy
    // through JSON, as a stored document would be: no change can reach the state by reference.
    const current = this.#states.get(deployment) ?? EMPTY_FAIR_SHARE;
    const { state, result } = change(JSON.parse(JSON.stringify(current)) as FairShareState);
    this.#states.set(deployment, state);
    return result;
  }
}
