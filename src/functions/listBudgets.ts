import { app, type HttpResponseInit } from '@azure/functions';
import { httpHandler, jsonResponse } from '../adapters/functions/httpResponses.js';
import { listBudgets } from '../app/budgetQueries.js';
import { getServices } from '../compositionRoot.js';

export async function listBudgetsHandler(): Promise<HttpResponseInit> {
  const services = await getServices();
  const report = await listBudgets({
    budgets: services.config.budgets,
    store: services.spendBudgets,
    clock: services.clock,
    currency: services.config.prices[0]?.currency ?? 'USD',
  });
  return jsonResponse(200, report);
}

app.http('listBudgets', {
  route: 'budgets',
  methods: ['GET'],
  authLevel: 'function',
  handler: httpHandler(listBudgetsHandler),
});
