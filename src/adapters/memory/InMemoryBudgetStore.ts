import type { BudgetStore } from '../../app/ports.js';
import { EMPTY_SCHEDULE, type ScheduleState } from '../../core/SliceSchedule.js';

/** One process's stand-in for the shared store: for tests of several limiters in one process. */
export class InMemoryBudgetStore implements BudgetStore {
  readonly #states = new Map<string, ScheduleState>();
  updates = 0;

  async update<T>(
    deploymentId: string,
    change: (state: ScheduleState) => { state: ScheduleState; result: T },
  ): Promise<T> {
    this.updates += 1;
    const { state, result } = change(this.#states.get(deploymentId) ?? EMPTY_SCHEDULE);
    this.#states.set(deploymentId, state);
    return result;
  }

  stateOf(deploymentId: string): ScheduleState {
    return this.#states.get(deploymentId) ?? EMPTY_SCHEDULE;
  }
}
