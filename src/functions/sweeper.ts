import { app, type InvocationContext, type Timer } from '@azure/functions';
import { refreshRunningJobsRollups } from '../app/costRollups.js';
import { applyRetention } from '../app/retention.js';
import { sweep } from '../app/sweep.js';
import { getServices } from '../compositionRoot.js';

export async function sweeperHandler(_timer: Timer, context: InvocationContext): Promise<void> {
  const services = await getServices();
  const report = await sweep(services.ingestDeps(context), services.config.sweeper);
  const acted = Object.entries(report.actions).filter(([, action]) => action !== 'healthy');
  const rollups = await refreshRunningJobsRollups(services.finalizeDeps(context));
  const expired = await applyRetention(services.config.retention, services.retentionDeps(context));
  context.log(
    `sweeper: ${report.jobs} active job(s); ${acted.length} acted on; ${report.requeuedLines} line(s) re-queued; ${rollups} cost rollup(s) refreshed; ` +
      `outcomes of ${expired.outcomes} and files of ${expired.files} finished job(s) past retention removed`,
  );
}

app.timer('sweeper', { schedule: '%SWEEPER_SCHEDULE%', handler: sweeperHandler });
