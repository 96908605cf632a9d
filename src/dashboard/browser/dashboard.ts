/**
 * The dashboard page's script (served as /api/dashboard/app.js, bundled by esbuild into one classic
 * script). It builds the DOM with createElement and textContent only: job data is never parsed as HTML.
 */
import { createApiClient } from './api.js';
import { renderBudgetGauges } from './budgetGauge.js';
import { renderBudgetShares } from './budgetShares.js';
import { renderCostChart, type ChartGroup } from './costChartSvg.js';
import { required } from './dom.js';
import { utcDays } from './format.js';
import { renderJobs } from './jobsTable.js';
import type { WireBudgetUse, WireCostReport, WireJobsPage } from './wire.js';

/** Days shown in the chart, ending today (UTC). */
const CHART_DAYS = 14;
const JOBS_POLL_IN_MS = 2_000;
const COSTS_POLL_IN_MS = 10_000;
const BUDGET_POLL_IN_MS = 5_000;

const api = createApiClient(new URLSearchParams(location.search).get('code'));
const statusLine = required('#status');
const jobsBody = required('#jobs tbody');
const budgetGauges = required('#budget');
const budgetShares = required('#shares');
const chartElements = { chart: required('#chart'), legend: required('#legend'), range: required('#chart-range') };

function setStatus(text: string, isError: boolean): void {
  statusLine.textContent = text;
  statusLine.className = isError ? 'error' : '';
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

async function pollJobs(): Promise<void> {
  try {
    const page = await api<WireJobsPage>('jobs?limit=20');
    renderJobs(jobsBody, page);
    renderBudgetShares(budgetShares, page);
    setStatus(`Updated ${new Date().toISOString().slice(11, 19)} UTC`, false);
  } catch (error) {
    setStatus(messageOf(error), true);
  }
  setTimeout(() => void pollJobs(), JOBS_POLL_IN_MS);
}

/** The chart's grouping and tag filter, from the page's URL (`&group=tag:project&filter=tag:team=search`). */
const pageQuery = new URLSearchParams(location.search);
const groupInput = required<HTMLInputElement>('#group');
const filterInput = required<HTMLInputElement>('#filter');
groupInput.value = pageQuery.get('group') ?? 'model';
filterInput.value = pageQuery.get('filter') ?? '';

function chartGroup(): ChartGroup {
  const group = groupInput.value.trim();
  return group.startsWith('tag:') ? (group as ChartGroup) : 'model';
}

async function showCosts(): Promise<void> {
  const days = utcDays(CHART_DAYS, Date.now());
  const group = chartGroup();
  const filter = filterInput.value.trim();
  const query = new URLSearchParams({ from: days.at(0) ?? '', to: days.at(-1) ?? '', groupBy: `day,${group}` });
  if (filter !== '') query.set('filter', filter);
  try {
    renderCostChart(chartElements, await api<WireCostReport>(`costs?${query.toString()}`), days, group);
  } catch (error) {
    setStatus(messageOf(error), true);
  }
}

async function pollCosts(): Promise<void> {
  await showCosts();
  setTimeout(() => void pollCosts(), COSTS_POLL_IN_MS);
}

// Enter in a field changes the view (below), never reloads the page.
required<HTMLFormElement>('#chart-view').addEventListener('submit', (event) => event.preventDefault());
// A new grouping or filter shows at once and stays in the URL, so the view can be bookmarked.
required<HTMLFormElement>('#chart-view').addEventListener('change', () => {
  pageQuery.set('group', chartGroup());
  if (filterInput.value.trim() === '') pageQuery.delete('filter');
  else pageQuery.set('filter', filterInput.value.trim());
  history.replaceState(null, '', `?${pageQuery.toString()}`);
  void showCosts();
});

async function pollBudget(): Promise<void> {
  try {
    renderBudgetGauges(budgetGauges, await api<WireBudgetUse>('metrics/budget'));
  } catch (error) {
    setStatus(messageOf(error), true);
  }
  setTimeout(() => void pollBudget(), BUDGET_POLL_IN_MS);
}

void pollJobs();
void pollCosts();
void pollBudget();
