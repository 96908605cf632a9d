// No DOM here: the grouping is tested in Node.
import type { WireJob } from './wire.js';

/** Running jobs with a known share, by deployment, largest share first. */
export function sharesByDeployment(jobs: readonly WireJob[]): Map<string, WireJob[]> {
  const byDeployment = new Map<string, WireJob[]>();
  for (const job of jobs) {
    if (job.share === null) continue;
    const list = byDeployment.get(job.deployment) ?? [];
    list.push(job);
    byDeployment.set(job.deployment, list);
  }
  for (const list of byDeployment.values()) list.sort((a, b) => (b.share ?? 0) - (a.share ?? 0));
  return new Map([...byDeployment].sort(([a], [b]) => a.localeCompare(b)));
}
