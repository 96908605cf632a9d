/** The dashboard's stylesheet, served by the app itself (nothing comes from a CDN). */
export const DASHBOARD_CSS = `
:root { color-scheme: light; --ink: #1d2330; --muted: #667085; --line: #e4e7ec; --accent: #2f6fdf; --ok: #3aa55d; --bad: #c0392b; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #f6f7f9; }
header { display: flex; align-items: baseline; gap: 16px; padding: 14px 24px; background: #fff; border-bottom: 1px solid var(--line); }
header h1 { margin: 0; font-size: 18px; }
#status { color: var(--muted); }
#status.error { color: var(--bad); }
main { padding: 16px 24px; display: grid; gap: 16px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
section h2 { margin: 0 0 8px; font-size: 15px; }
section h3 { margin: 10px 0 4px; font-size: 13px; }
.muted { color: var(--muted); }
#chart svg { display: block; width: 100%; height: auto; }
#chart .axis { stroke: #98a2b3; stroke-width: 1; }
#chart .grid { stroke: var(--line); stroke-width: 1; }
#chart text { font-size: 11px; fill: var(--muted); }
.gauges { display: flex; flex-wrap: wrap; gap: 24px; }
.gauge { margin: 0; display: flex; align-items: center; gap: 12px; }
.gauge svg { width: 160px; height: auto; }
.gauge .track { fill: none; stroke: var(--line); stroke-width: 12; }
.gauge .value { fill: none; stroke: #2e90fa; stroke-width: 12; }
.gauge .value.high { stroke: #12b76a; }
.gauge .value.full { stroke: #f79009; }
.gauge .percent { font-size: 16px; font-weight: 600; }
#legend { display: flex; flex-wrap: wrap; gap: 14px; margin-top: 6px; }
#legend .chip { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 7px 8px; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: 0.03em; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
td code { font-size: 12px; }
.blob-name { max-width: 40ch; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.progress { position: relative; width: 220px; height: 12px; background: #eef1f5; border-radius: 6px; overflow: hidden; display: inline-block; vertical-align: middle; }
.progress .fill { position: absolute; inset: 0 auto 0 0; background: var(--accent); }
.progress .fill.failed { background: var(--bad); }
.progress-text { margin-left: 8px; color: var(--muted); font-variant-numeric: tabular-nums; }
.status { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; background: #eef1f5; }
.status.completed { background: #e3f4e8; color: #1e7a3c; }
.status.failed, .status.cancelled, .status.expired { background: #fbe7e5; color: #a1291d; }
.status.in_progress, .status.finalizing { background: #e6eefc; color: #1f4fa8; }
.cap-reached { color: var(--bad); font-weight: 600; }
.priority { white-space: nowrap; }
.priority-level { display: inline-block; min-width: 6ch; }
.share { position: relative; width: 80px; height: 8px; background: #eef1f5; border-radius: 4px; overflow: hidden; display: inline-block; vertical-align: middle; margin-left: 6px; }
.share .fill { position: absolute; inset: 0 auto 0 0; background: #7a5af8; }
.share-text { margin-left: 6px; color: var(--muted); font-variant-numeric: tabular-nums; }
.shares { margin: 0 0 6px; }
.stack { display: flex; width: 100%; max-width: 640px; height: 14px; background: #eef1f5; border-radius: 7px; overflow: hidden; margin: 4px 0; }
.stack .segment { height: 100%; border-right: 1px solid #fff; }
.share-list { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 4px 16px; color: var(--muted); }
.share-list .chip { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
.priority-level.p-high { font-weight: 600; color: #b54708; }
.priority-level.p-low { color: var(--muted); }
.segment, .share-list .chip { background: #7a5af8; }
.segment.p-high, .chip.p-high { background: #f79009; }
.segment.p-normal, .chip.p-normal { background: #2e90fa; }
.segment.p-low, .chip.p-low { background: #98a2b3; }
`;
