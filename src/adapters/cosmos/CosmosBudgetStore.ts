import type { Container } from '@azure/cosmos';
import { writeIfUnchanged } from './statusOf.js';
import type { BudgetStore } from '../../app/ports.js';
import { EMPTY_SCHEDULE, type ScheduleState } from '../../core/SliceSchedule.js';

interface BudgetDocument extends ScheduleState {
  readonly id: string;
  readonly _etag?: string;
}

const MAX_ATTEMPTS = 100;
/**
 * A deployment's schedule as one small document (partition key `/id`), changed with ETag-conditional
 * replaces: two instances can never claim the same stretch of the timeline.
 */
export class CosmosBudgetStore implements BudgetStore {
  constructor(private readonly container: Container) {}

  async update<T>(
    deploymentId: string,
    change: (state: ScheduleState) => { state: ScheduleState; result: T },
  ): Promise<T> {
    const item = this.container.item(deploymentId, deploymentId);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
      const { resource } = await item.read<BudgetDocument>();
      const current: ScheduleState =
        resource === undefined
          ? EMPTY_SCHEDULE
          : { cursorInMs: resource.cursorInMs, pausedUntilInMs: resource.pausedUntilInMs, halt: resource.halt };
      const { state, result } = change(current);
      const document: BudgetDocument = {
        id: deploymentId,
        cursorInMs: state.cursorInMs,
        pausedUntilInMs: state.pausedUntilInMs,
        ...(state.halt === undefined ? {} : { halt: state.halt }),
      };
      // Another instance created or changed it first: read again.
      if (await writeIfUnchanged(this.container, resource, document)) return result;
    }
    throw new Error(`Budget of ${deploymentId}: too much contention on the shared state`);
  }
}
