import type { ResponseCache } from '../../app/ports.js';
import type { CachedAnswer } from '../../core/responseCache.js';

export class InMemoryResponseCache implements ResponseCache {
  readonly #answers = new Map<string, CachedAnswer>();

  async getMany(keys: readonly string[]): Promise<Map<string, CachedAnswer>> {
    const found = new Map<string, CachedAnswer>();
    for (const key of keys) {
      const answer = this.#answers.get(key);
      if (answer !== undefined) found.set(key, structuredClone(answer));
    }
    return found;
  }

  async put(answer: CachedAnswer): Promise<void> {
    this.#answers.set(answer.key, structuredClone(answer));
  }

  /** How many answers are stored (for tests). */
  get size(): number {
    return this.#answers.size;
  }
}
