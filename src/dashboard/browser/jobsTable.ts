import type { WireJob, WireJobsPage } from './wire.js';
import { el } from './dom.js';
import { money } from './format.js';

function progressCell(job: WireJob): HTMLTableCellElement {
  const { total, completed, failed } = job.request_counts;
  const done = completed + failed;
  const percent = total === 0 ? 0 : Math.min(100, (100 * done) / total);
  const fill = el('div', { class: 'fill' });
  fill.style.width = `${percent.toFixed(1)}%`;
  const failedShare = done === 0 ? 0 : failed / done;
  if (failedShare > 0.5) fill.classList.add('failed');
  const bar = el(
    'div',
    {
      class: 'progress',
      role: 'progressbar',
      'aria-valuemin': 0,
      'aria-valuemax': total,
      'aria-valuenow': done,
      'aria-label': `Progress of ${job.id}`,
      'data-job': job.id,
    },
    [fill],
  );
  const progressText = el('span', { class: 'progress-text' });
  progressText.textContent =
    `${done}/${total}${job.ingest.done ? '' : '+'}` + (failed > 0 ? ` (${failed} failed)` : '');
  return el('td', {}, [bar, progressText]);
}

function capCell(job: WireJob): HTMLTableCellElement {
  const cap = job.spending_cap;
  const cell = el('td', { class: 'num' });
  if (cap) {
    cell.textContent = money(cap.max_cost, cap.currency) + (cap.reached ? ' reached' : '');
    if (cap.reached) cell.classList.add('cap-reached');
  } else {
    cell.textContent = 'none';
  }
  return cell;
}

function jobRow(job: WireJob): HTMLTableRowElement {
  const estimate =
    job.estimate.min_cost !== null
      ? `${money(job.estimate.min_cost, job.estimate.currency)} – ${money(job.estimate.max_cost, job.estimate.currency)}`
      : '–';
  const idCell = el('td', {}, [el('code', {}, [`${job.id.slice(0, 16)}…`])]);
  // A blob name may be hundreds of characters without a space: cut short, in full on hover.
  idCell.append(el('div', { class: 'muted blob-name', title: job.input_blob }, [job.input_blob]));
  const statusBadge = el('span', { class: `status ${job.status}` }, [job.status.replace('_', ' ')]);
  const soFar = job.cost_so_far;
  const costCell = el('td', { class: 'num' }, [money(soFar.amount, soFar.currency)]);
  const cache = job.cache;
  if (cache !== undefined && cache.hits > 0) {
    const saved = `${cache.hits} cached, ${money(cache.saved.amount, cache.saved.currency)} saved`;
    costCell.append(el('div', { class: 'muted' }, [saved]));
  }
  return el('tr', { 'data-job': job.id }, [
    idCell,
    el('td', {}, [statusBadge]),
    progressCell(job),
    costCell,
    el('td', { class: 'num' }, [estimate]),
    capCell(job),
  ]);
}

/** One row per job: id and input, status, a progress bar, cost so far, the estimate's range, the cap. */
export function renderJobs(body: HTMLElement, page: WireJobsPage): void {
  body.replaceChildren(...page.data.map(jobRow));
}
