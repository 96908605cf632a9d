import { layoutCostChart } from './costChart.js';

/** Days shown in the chart, ending today (UTC). */
export const CHART_DAYS = 14;
export const JOBS_POLL_IN_MS = 2_000;
export const COSTS_POLL_IN_MS = 10_000;

/**
 * The dashboard's script, plain browser JavaScript. It builds the DOM with createElement and
 * textContent only (job data is never parsed as HTML), and embeds the chart layout's source.
 */
export const DASHBOARD_SCRIPT = `'use strict';
(() => {
const layoutCostChart = ${layoutCostChart.toString()};
const CHART_DAYS = ${CHART_DAYS};
const JOBS_POLL_IN_MS = ${JOBS_POLL_IN_MS};
const COSTS_POLL_IN_MS = ${COSTS_POLL_IN_MS};
const SVG = 'http://www.w3.org/2000/svg';
const key = new URLSearchParams(location.search).get('code');
const statusLine = document.getElementById('status');

async function api(path) {
  const headers = { accept: 'application/json' };
  if (key) headers['x-functions-key'] = key;
  const response = await fetch(path, { headers, cache: 'no-store' });
  if (response.status === 401 || response.status === 403) {
    throw new Error('The API refused the request (' + response.status + '): open this page with ?code=<function key>');
  }
  if (!response.ok) {
    let message = 'HTTP ' + response.status;
    try { message = (await response.json()).error.message || message; } catch (ignored) { /* not JSON */ }
    throw new Error(path.split('?')[0] + ': ' + message);
  }
  return response.json();
}

function el(tag, attributes, children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
  for (const child of children || []) node.append(child);
  return node;
}

function svg(tag, attributes, children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
  for (const child of children || []) node.append(child);
  return node;
}

/** Batch costs are often fractions of a cent: two significant digits at least, never an exponent. */
function money(amount, currency) {
  if (amount === null || amount === undefined) return '–';
  const decimals = amount === 0 || amount >= 1 ? 2 : Math.min(9, Math.max(2, Math.ceil(-Math.log10(amount)) + 1));
  let digits = amount.toFixed(decimals);
  while (digits.endsWith('0') && digits.length - digits.indexOf('.') > 3) digits = digits.slice(0, -1);
  return currency === 'USD' ? '$' + digits : digits + ' ' + currency;
}

function utcDays(count) {
  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  const days = [];
  for (let i = count - 1; i >= 0; i -= 1) days.push(new Date(today - i * 86400000).toISOString().slice(0, 10));
  return days;
}

function setStatus(text, isError) {
  statusLine.textContent = text;
  statusLine.className = isError ? 'error' : '';
}

function renderJobs(page) {
  const body = document.querySelector('#jobs tbody');
  const rows = page.data.map((job) => {
    const total = job.request_counts.total;
    const done = job.request_counts.completed + job.request_counts.failed;
    const percent = total === 0 ? 0 : Math.min(100, (100 * done) / total);
    const fill = el('div', { class: 'fill' });
    fill.style.width = percent.toFixed(1) + '%';
    const failedShare = done === 0 ? 0 : job.request_counts.failed / done;
    if (failedShare > 0.5) fill.classList.add('failed');
    const bar = el('div', {
      class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': total, 'aria-valuenow': done,
      'aria-label': 'Progress of ' + job.id, 'data-job': job.id,
    }, [fill]);
    const progressText = el('span', { class: 'progress-text' });
    progressText.textContent = done + '/' + total + (job.ingest.done ? '' : '+') + (job.request_counts.failed > 0 ? ' (' + job.request_counts.failed + ' failed)' : '');
    const estimate = job.estimate && job.estimate.min_cost !== null
      ? money(job.estimate.min_cost, job.estimate.currency) + ' – ' + money(job.estimate.max_cost, job.estimate.currency)
      : '–';
    const cap = job.spending_cap;
    const capCell = el('td', { class: 'num' });
    if (cap) {
      capCell.textContent = money(cap.max_cost, cap.currency) + (cap.reached ? ' reached' : '');
      if (cap.reached) capCell.classList.add('cap-reached');
    } else {
      capCell.textContent = 'none';
    }
    const idCell = el('td', {}, [el('code', {}, [job.id.slice(0, 16) + '…'])]);
    // A blob name may be hundreds of characters without a space: cut short, in full on hover.
    idCell.append(el('div', { class: 'muted blob-name', title: job.input_blob }, [job.input_blob]));
    const statusBadge = el('span', { class: 'status ' + job.status }, [job.status.replace('_', ' ')]);
    const so = job.cost_so_far || job.cost;
    return el('tr', { 'data-job': job.id }, [
      idCell,
      el('td', {}, [statusBadge]),
      el('td', {}, [bar, progressText]),
      el('td', { class: 'num' }, [money(so.amount, so.currency)]),
      el('td', { class: 'num' }, [estimate]),
      capCell,
    ]);
  });
  body.replaceChildren(...rows);
}

function renderChart(report, days) {
  const chart = document.getElementById('chart');
  const rows = report.rows.map((r) => ({ day: r.day, model: r.model, cost: r.cost }));
  const layout = layoutCostChart(rows, days, { width: 960, height: 260 });
  const { plot } = layout;
  const root = svg('svg', { viewBox: '0 0 ' + layout.width + ' ' + layout.height, role: 'img', 'aria-label': 'Cost per day by model' });
  for (const fraction of [0.5, 1]) {
    const y = plot.top + plot.height * (1 - fraction);
    root.append(svg('line', { class: 'grid', x1: plot.left, x2: plot.left + plot.width, y1: y, y2: y }));
    const label = svg('text', { x: plot.left - 6, y: y + 4, 'text-anchor': 'end' });
    label.textContent = money(layout.scaleMax * fraction, report.currency);
    root.append(label);
  }
  root.append(svg('line', { class: 'axis', x1: plot.left, x2: plot.left + plot.width, y1: plot.top + plot.height, y2: plot.top + plot.height }));
  for (const bar of layout.bars) {
    const rect = svg('rect', {
      class: 'bar', x: bar.x, y: bar.y, width: bar.width, height: bar.height, fill: bar.color,
      'data-day': bar.day, 'data-model': bar.model, 'data-cost': bar.cost,
    });
    const title = svg('title');
    title.textContent = bar.day + ' · ' + bar.model + ': ' + money(bar.cost, report.currency);
    rect.append(title);
    root.append(rect);
  }
  for (const day of layout.days) {
    const label = svg('text', { x: day.x, y: plot.top + plot.height + 16, 'text-anchor': 'middle' });
    label.textContent = day.label;
    root.append(label);
  }
  chart.replaceChildren(root);
  chart.setAttribute('data-state', 'ready');
  const legend = document.getElementById('legend');
  legend.replaceChildren(...layout.models.map((m) => {
    const chip = el('span', { class: 'chip', 'data-model': m.model });
    chip.style.background = m.color;
    return el('span', {}, [chip, m.model]);
  }));
  if (layout.models.length === 0) legend.replaceChildren(el('span', { class: 'muted' }, ['No spend in these days.']));
  const total = report.total.cost === null ? 'several currencies' : money(report.total.cost, report.currency);
  document.getElementById('chart-range').textContent = days[0] + ' to ' + days[days.length - 1] + ' (UTC), total ' + total;
}

async function pollJobs() {
  try {
    renderJobs(await api('jobs?limit=20'));
    setStatus('Updated ' + new Date().toISOString().slice(11, 19) + ' UTC', false);
  } catch (error) {
    setStatus(error.message, true);
  }
  setTimeout(pollJobs, JOBS_POLL_IN_MS);
}

async function pollCosts() {
  const days = utcDays(CHART_DAYS);
  try {
    renderChart(await api('costs?from=' + days[0] + '&to=' + days[days.length - 1] + '&groupBy=day,model'), days);
  } catch (error) {
    setStatus(error.message, true);
  }
  setTimeout(pollCosts, COSTS_POLL_IN_MS);
}

void pollJobs();
void pollCosts();
})();
`;
