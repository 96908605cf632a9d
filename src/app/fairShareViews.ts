import { bindingTokensPerMinute, etaAtInMs, measuredShare } from '../core/fairShare.js';
import type { Clock, DeploymentLimits, FairShareStore, JobScheduleView, ScheduleViews } from './ports.js';

/** The jobs' shares and ETAs, read from the deployment's fair-share state (decision 0012). */
export class FairShareScheduleViews implements ScheduleViews {
  constructor(
    private readonly fairShare: FairShareStore,
    private readonly clock: Clock,
    private readonly limitsOf: (deployment: string) => DeploymentLimits,
    private readonly requestsPerMessage: number,
  ) {}

  async viewsFor(deployment: string): Promise<ReadonlyMap<string, JobScheduleView>> {
    const state = await this.fairShare.read(deployment);
    const tokensPerMinute = bindingTokensPerMinute(state, this.limitsOf(deployment), this.requestsPerMessage);
    const context = { nowInMs: this.clock.nowInMs(), tokensPerMinute };
    const views = new Map<string, JobScheduleView>();
    for (const [jobId, job] of Object.entries(state.jobs)) {
      views.set(jobId, { share: measuredShare(job, context), etaAtInMs: etaAtInMs(state, jobId, context) });
    }
    return views;
  }
}
