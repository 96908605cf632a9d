/**
 * The dashboard page's script (served as /api/dashboard/app.js, bundled by esbuild into one classic
 * script). It builds the DOM with createElement and textContent only: job data is never parsed as HTML.
 */
import { createApiClient } from './api.js';
import { renderBudgetGauges } from './budgetGauge.js';
import { renderBudgetShares } from './budgetShares.js';
import { renderCostChart } from './costChartSvg.js';
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

async function pollCosts(): Promise<void> {
  const days = utcDays(CHART_DAYS, Date.now());
  try {
    const range = `from=${days.at(0) ?? ''}&to=${days.at(-1) ?? ''}`;
    renderCostChart(chartElements, await api<WireCostReport>(`costs?${range}&groupBy=day,model`), days);
  } catch (error) {
    setStatus(messageOf(error), true);
  }
  setTimeout(() => void pollCosts(), COSTS_POLL_IN_MS);
}

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
