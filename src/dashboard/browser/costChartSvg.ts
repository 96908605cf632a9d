import { layoutCostChart, type CostChartRow } from '../costChart.js';
import type { WireCostReport } from './wire.js';
import { el, svg } from './dom.js';
import { money } from './format.js';

const CHART_SIZE = { width: 960, height: 260 };

export interface CostChartElements {
  readonly chart: HTMLElement;
  readonly legend: HTMLElement;
  readonly range: HTMLElement;
}

/** What the chart's segments are: the model, or a tag's value (`tag:<key>`). */
export type ChartGroup = 'model' | `tag:${string}`;

/** A row's segment: its model, or its value of the grouped tag ('(untagged)' for jobs without it). */
function segmentOf(row: WireCostReport['rows'][number], group: ChartGroup): string | undefined {
  if (group === 'model') return row.model;
  const value = row[group];
  return value === undefined ? undefined : value === '' ? '(untagged)' : value;
}

function chartSvg(
  report: WireCostReport,
  days: readonly string[],
  group: ChartGroup,
): { root: SVGSVGElement; models: readonly { model: string; color: string }[] } {
  const rows: CostChartRow[] = report.rows.flatMap((r) => {
    const segment = segmentOf(r, group);
    return r.day === undefined || segment === undefined ? [] : [{ day: r.day, model: segment, cost: r.cost }];
  });
  const layout = layoutCostChart(rows, days, CHART_SIZE);
  const { plot } = layout;
  const root = svg('svg', {
    viewBox: `0 0 ${layout.width} ${layout.height}`,
    role: 'img',
    'aria-label': `Cost per day by ${group}`,
  });
  for (const fraction of [0.5, 1]) {
    const y = plot.top + plot.height * (1 - fraction);
    root.append(svg('line', { class: 'grid', x1: plot.left, x2: plot.left + plot.width, y1: y, y2: y }));
    const label = svg('text', { x: plot.left - 6, y: y + 4, 'text-anchor': 'end' });
    label.textContent = money(layout.scaleMax * fraction, report.currency);
    root.append(label);
  }
  const bottom = plot.top + plot.height;
  root.append(svg('line', { class: 'axis', x1: plot.left, x2: plot.left + plot.width, y1: bottom, y2: bottom }));
  for (const bar of layout.bars) {
    const rect = svg('rect', {
      class: 'bar',
      x: bar.x,
      y: bar.y,
      width: bar.width,
      height: bar.height,
      fill: bar.color,
      'data-day': bar.day,
      'data-model': bar.model,
      'data-cost': bar.cost,
    });
    const title = svg('title');
    title.textContent = `${bar.day} · ${bar.model}: ${money(bar.cost, report.currency)}`;
    rect.append(title);
    root.append(rect);
  }
  for (const day of layout.days) {
    const label = svg('text', { x: day.x, y: bottom + 16, 'text-anchor': 'middle' });
    label.textContent = day.label;
    root.append(label);
  }
  return { root, models: layout.models };
}

/** Cost per day as one stacked bar per day (a segment per model or tag value), its legend, and the range's total. */
export function renderCostChart(
  elements: CostChartElements,
  report: WireCostReport,
  days: readonly string[],
  group: ChartGroup = 'model',
): void {
  const { root, models } = chartSvg(report, days, group);
  elements.chart.replaceChildren(root);
  elements.chart.setAttribute('data-state', 'ready');
  elements.legend.replaceChildren(
    ...models.map((m) => {
      const chip = el('span', { class: 'chip', 'data-model': m.model });
      chip.style.background = m.color;
      return el('span', {}, [chip, m.model]);
    }),
  );
  if (models.length === 0) elements.legend.replaceChildren(el('span', { class: 'muted' }, ['No spend in these days.']));
  const total = report.total.cost === null ? 'several currencies' : money(report.total.cost, report.currency);
  elements.range.textContent = `${days.at(0) ?? ''} to ${days.at(-1) ?? ''} (UTC), total ${total}`;
}
