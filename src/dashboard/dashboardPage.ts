/**
 * The dashboard page. It holds no data: every number on it comes from the API (/api/jobs, /api/costs, /api/metrics/budget),
 * read by the script with the function key given as ?code= on the page's own URL, which is also passed
 * on to the page's own files (they need the key like every function of the app).
 */
export function renderDashboardPage(code: string | null): string {
  // encodeURIComponent leaves nothing that could end the double-quoted attribute.
  const query = code === null || code === '' ? '' : `?code=${encodeURIComponent(code)}`;
  return DASHBOARD_HTML.replaceAll('{{assetQuery}}', query);
}

const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>phi3-batch</title>
<link rel="stylesheet" href="dashboard/styles.css{{assetQuery}}">
</head>
<body>
<header><h1>phi3-batch</h1><span id="status">Loading…</span></header>
<main>
<section>
<h2>Budget used, last minute <span class="muted">(all instances; the binding limit of requests or tokens per minute)</span></h2>
<div id="budget" class="gauges"></div>
<h3>Shares of running jobs <span class="muted">(by deployment; a higher priority gets a larger share)</span></h3>
<div id="shares"></div>
</section>
<section>
<h2>Cost per day <span class="muted" id="chart-range"></span></h2>
<form id="chart-view"><label>By <input id="group" name="group" placeholder="model or tag:project" size="18"></label>
<label>Only <input id="filter" name="filter" placeholder="tag:team=search" size="22"></label></form>
<div id="chart" data-state="loading"></div>
<div id="legend"></div>
</section>
<section>
<h2>Jobs</h2>
<table id="jobs">
<thead><tr><th>Job</th><th>Status</th><th>Priority</th><th>Progress</th><th>Cost so far</th><th>Estimate</th><th>Cap</th></tr></thead>
<tbody></tbody>
</table>
</section>
</main>
<script src="dashboard/app.js{{assetQuery}}"></script>
</body>
</html>
`;
