export interface CostChartRow {
  readonly day: string;
  readonly model: string;
  readonly cost: number;
}

export interface CostChartBar {
  readonly day: string;
  readonly model: string;
  readonly cost: number;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  readonly color: string;
}

export interface CostChartLayout {
  readonly width: number;
  readonly height: number;
  readonly plot: { readonly left: number; readonly top: number; readonly width: number; readonly height: number };
  /** The top of the y axis, a round amount at or above the largest day's total. */
  readonly scaleMax: number;
  readonly days: ReadonlyArray<{ readonly day: string; readonly x: number; readonly label: string }>;
  readonly models: ReadonlyArray<{ readonly model: string; readonly color: string }>;
  readonly bars: readonly CostChartBar[];
}

/**
 * Lays out a cost-per-day chart with one stacked bar per day, a segment per model. Pure, so the
 * tests check the very code that the dashboard's browser script bundles.
 */
export function layoutCostChart(
  rows: readonly CostChartRow[],
  days: readonly string[],
  size: { width: number; height: number },
): CostChartLayout {
  const palette = ['#2f6fdf', '#e8833a', '#3aa55d', '#c0392b', '#8e44ad', '#16a2b8', '#d4ac0d', '#7f8c8d'];
  const plot = { left: 64, top: 12, width: size.width - 64 - 12, height: size.height - 12 - 28 };
  const models = [...new Set(rows.map((r) => r.model))]
    .sort()
    .map((model, i) => ({ model, color: palette[i % palette.length] as string }));
  const colorOf = new Map(models.map((m) => [m.model, m.color]));
  const totals = new Map<string, number>();
  for (const row of rows) totals.set(row.day, (totals.get(row.day) ?? 0) + row.cost);
  const largest = Math.max(0, ...days.map((d) => totals.get(d) ?? 0));
  let scaleMax = 0;
  if (largest > 0) {
    // 1, 2 or 5 times a power of ten: axis labels stay readable.
    const power = Math.pow(10, Math.floor(Math.log10(largest)));
    scaleMax = [1, 2, 5, 10].map((m) => m * power).find((v) => v >= largest) ?? 10 * power;
  }
  const slot = days.length === 0 ? 0 : plot.width / days.length;
  const barWidth = Math.max(1, slot * 0.7);
  const round = (v: number): number => Math.round(v * 100) / 100;
  const bars: CostChartBar[] = [];
  days.forEach((day, i) => {
    let base = plot.top + plot.height;
    const x = round(plot.left + i * slot + (slot - barWidth) / 2);
    for (const m of models) {
      const cost = rows.filter((r) => r.day === day && r.model === m.model).reduce((sum, r) => sum + r.cost, 0);
      if (cost <= 0 || scaleMax === 0) continue;
      // A bar that costs something is at least one pixel tall, however small next to the largest day.
      const height = Math.max(1, (cost / scaleMax) * plot.height);
      base -= height;
      bars.push({
        day,
        model: m.model,
        cost,
        x,
        y: round(base),
        width: round(barWidth),
        height: round(height),
        color: colorOf.get(m.model) ?? '#888',
      });
    }
  });
  return {
    width: size.width,
    height: size.height,
    plot,
    scaleMax,
    days: days.map((day, i) => ({ day, x: round(plot.left + i * slot + slot / 2), label: day.slice(5) })),
    models,
    bars,
  };
}
