import { app, type InvocationContext, type Timer } from '@azure/functions';
import { tendFairShare } from '../app/tendFairShare.js';
import { getServices } from '../compositionRoot.js';

export async function feederHandler(_timer: Timer, context: InvocationContext): Promise<void> {
  const services = await getServices();
  for (const deployment of services.deployments.all) {
    const report = await tendFairShare(services.tendDeps(context), deployment.name);
    if (report.fed + report.drained + report.left + report.resent > 0) {
      context.log(
        `feeder ${deployment.name}: ${report.jobs} job(s); ${report.fed} message(s) fed, ${report.drained} drained, ${report.resent} sent again; ${report.left} job(s) left`,
      );
    }
  }
}

app.timer('feeder', { schedule: '%FEEDER_SCHEDULE%', handler: feederHandler });
