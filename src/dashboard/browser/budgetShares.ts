import { el } from './dom.js';
import { percent, priorityLabel } from './format.js';
import { sharesByDeployment } from './shares.js';
import type { WireJob, WireJobsPage } from './wire.js';

/** One segment per job of a deployment's stacked bar; the colour follows its priority. */
function segment(job: WireJob): HTMLDivElement {
  const label = `${job.id}: ${priorityLabel(job.priority)}, ${percent(job.share ?? 0)}`;
  const part = el('div', { class: `segment p-${job.priority}`, title: label, 'data-job': job.id });
  part.style.width = percent(job.share ?? 0);
  return part;
}

/**
 * Per deployment, how its budget over the last minute was shared: a stacked bar of the running jobs'
 * shares (the jobs of the page's list), and each job's priority and share.
 */
export function renderBudgetShares(container: Element, page: WireJobsPage): void {
  const groups = sharesByDeployment(page.data);
  if (groups.size === 0) {
    container.replaceChildren(el('div', { class: 'muted' }, ['No running job is taking a share of a budget.']));
    return;
  }
  const figures = [...groups].map(([deployment, jobs]) => {
    const used = jobs.reduce((sum, job) => sum + (job.share ?? 0), 0);
    return el('figure', { class: 'shares', 'data-deployment': deployment }, [
      el('figcaption', {}, [
        el('strong', {}, [deployment]),
        ` ${jobs.length} running job${jobs.length === 1 ? '' : 's'}, ${percent(used)} of the budget`,
      ]),
      el('div', { class: 'stack', role: 'img', 'aria-label': `Shares of ${deployment}'s budget` }, jobs.map(segment)),
      el(
        'ul',
        { class: 'share-list' },
        jobs.map((job) =>
          el('li', {}, [
            el('span', { class: `chip p-${job.priority}` }),
            el('code', {}, [`${job.id.slice(0, 16)}…`]),
            ` ${priorityLabel(job.priority)} · ${percent(job.share ?? 0)}`,
          ]),
        ),
      ),
    ]);
  });
  container.replaceChildren(...figures);
}
