interface Entry<K, V> {
  readonly key: K;
  value: V;
  /** Towards the least recently used end. */
  older: Entry<K, V> | undefined;
  /** Towards the most recently used end. */
  newer: Entry<K, V> | undefined;
}

/**
 * A bounded least-recently-used map: a `Map` for lookups and a linked list for the order. (Re-inserting
 * into the `Map` on every hit and evicting its first key is simpler, but V8 leaves a hole for every
 * deleted entry, and finding the first key walks past them: with a steady stream of new keys, as a
 * word cache sees, lookups slowed down threefold.)
 */
export class LruCache<K, V> {
  readonly #entries = new Map<K, Entry<K, V>>();
  readonly #maxEntries: number;
  #oldest: Entry<K, V> | undefined;
  #newest: Entry<K, V> | undefined;

  constructor(maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`Expected \`maxEntries\` to be an integer from 1 and up, got ${String(maxEntries)}`);
    }
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: K): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) {
      return undefined;
    }
    this.#touch(entry);
    return entry.value;
  }

  set(key: K, value: V): void {
    const existing = this.#entries.get(key);
    if (existing !== undefined) {
      existing.value = value;
      this.#touch(existing);
      return;
    }
    const entry: Entry<K, V> = { key, value, older: this.#newest, newer: undefined };
    if (this.#newest !== undefined) {
      this.#newest.newer = entry;
    }
    this.#newest = entry;
    this.#oldest ??= entry;
    this.#entries.set(key, entry);
    const oldest = this.#oldest;
    if (this.#entries.size > this.#maxEntries && oldest !== undefined) {
      this.#unlink(oldest);
      this.#entries.delete(oldest.key);
    }
  }

  clear(): void {
    this.#entries.clear();
    this.#oldest = undefined;
    this.#newest = undefined;
  }

  /** Moves an entry to the most recently used end. */
  #touch(entry: Entry<K, V>): void {
    if (entry === this.#newest) {
      return;
    }
    this.#unlink(entry);
    entry.older = this.#newest;
    if (this.#newest !== undefined) {
      this.#newest.newer = entry;
    }
    this.#newest = entry;
  }

  #unlink(entry: Entry<K, V>): void {
    if (entry.older !== undefined) {
      entry.older.newer = entry.newer;
    } else {
      this.#oldest = entry.newer;
    }
    if (entry.newer !== undefined) {
      entry.newer.older = entry.older;
    } else {
      this.#newest = entry.older;
    }
    entry.older = undefined;
    entry.newer = undefined;
  }
}
