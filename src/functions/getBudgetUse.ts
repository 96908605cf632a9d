import { app, type HttpResponseInit } from '@azure/functions';
import { httpHandler, jsonResponse } from '../adapters/functions/httpResponses.js';
import { getBudgetUse } from '../app/budgetUse.js';
import { getServices } from '../compositionRoot.js';

export async function getBudgetUseHandler(): Promise<HttpResponseInit> {
  const services = await getServices();
  const report = await getBudgetUse({
    ledger: services.ledger,
    clock: services.clock,
    deployments: services.config.phi3.deployments,
  });
  return jsonResponse(200, report);
}

app.http('getBudgetUse', {
  route: 'metrics/budget',
  methods: ['GET'],
  authLevel: 'function',
  handler: httpHandler(getBudgetUseHandler),
});
