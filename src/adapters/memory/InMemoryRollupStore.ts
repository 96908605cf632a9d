import type { RollupStore } from '../../app/ports.js';
import { rollupId, type CostRollup, type RollupKey } from '../../core/costReport.js';

export class InMemoryRollupStore implements RollupStore {
  readonly #rollups = new Map<string, { rollup: CostRollup; etag: string }>();
  #version = 0;

  async get(jobId: string, key: RollupKey): Promise<{ rollup: CostRollup; etag: string } | undefined> {
    const stored = this.#rollups.get(rollupId(key.day, key.model, jobId));
    return stored === undefined ? undefined : structuredClone(stored);
  }

  async listJob(jobId: string): Promise<Array<{ rollup: CostRollup; etag: string }>> {
    return [...this.#rollups.values()]
      .filter((stored) => stored.rollup.jobId === jobId)
      .map((stored) => structuredClone(stored));
  }

  async create(rollup: CostRollup): Promise<boolean> {
    if (this.#rollups.has(rollup.id)) return false;
    this.#put(rollup);
    return true;
  }

  async replace(rollup: CostRollup, etag: string): Promise<boolean> {
    if (this.#rollups.get(rollup.id)?.etag !== etag) return false;
    this.#put(rollup);
    return true;
  }

  async *listDays(fromDay: string, toDay: string): AsyncIterable<CostRollup> {
    const all = [...this.#rollups.values()].map((s) => s.rollup).filter((r) => r.day >= fromDay && r.day <= toDay);
    for (const rollup of all.sort((a, b) => (a.id < b.id ? -1 : 1))) yield structuredClone(rollup);
  }

  #put(rollup: CostRollup): void {
    this.#version += 1;
    this.#rollups.set(rollup.id, { rollup: structuredClone(rollup), etag: `"${this.#version}"` });
  }
}
