import type { JobScheduleView, ScheduleViews } from '../../app/ports.js';

/** Schedule views set by hand, per deployment: for tests, and as an empty default until a scheduler reports. */
export class InMemoryScheduleViews implements ScheduleViews {
  readonly #byDeployment = new Map<string, Map<string, JobScheduleView>>();

  /** Sets (or with undefined, removes) a job's view in its deployment. */
  set(deployment: string, jobId: string, view: JobScheduleView | undefined): void {
    const views = this.#byDeployment.get(deployment) ?? new Map<string, JobScheduleView>();
    if (view === undefined) views.delete(jobId);
    else views.set(jobId, view);
    this.#byDeployment.set(deployment, views);
  }

  async viewsFor(deployment: string): Promise<ReadonlyMap<string, JobScheduleView>> {
    return new Map(this.#byDeployment.get(deployment));
  }
}
