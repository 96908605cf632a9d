import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { httpHandler, jsonResponse } from '../adapters/functions/httpResponses.js';
import { getCostReport, parseCostReportQuery } from '../app/costReports.js';
import { getServices } from '../compositionRoot.js';
import { costReportCsv } from '../core/costReport.js';

export async function getCostsHandler(request: HttpRequest): Promise<HttpResponseInit> {
  const query = parseCostReportQuery(request.query);
  const services = await getServices();
  const report = await getCostReport(services.rollups, query, {
    defaultCurrency: services.config.prices[0]?.currency ?? 'USD',
  });
  if (query.format === 'json') return jsonResponse(200, report);
  return {
    status: 200,
    headers: {
      'content-type': 'text/csv; charset=utf-8; header=present',
      'content-disposition': `attachment; filename="costs-${query.from}-${query.to}-by-${query.groupBy.join('-').replace(/:/g, '_')}.csv"`,
      'cache-control': 'no-store',
    },
    body: costReportCsv(report),
  };
}

app.http('getCosts', {
  route: 'costs',
  methods: ['GET'],
  authLevel: 'function',
  handler: httpHandler(getCostsHandler),
});
