import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { httpHandler } from '../adapters/functions/httpResponses.js';
import { NotFoundError } from '../core/errors.js';
import { DASHBOARD_ASSETS, DASHBOARD_CSP, dashboardPage, type DashboardAsset } from '../dashboard/dashboardAssets.js';

function serve(asset: DashboardAsset): HttpResponseInit {
  return {
    status: 200,
    headers: {
      'content-type': asset.contentType,
      'content-security-policy': DASHBOARD_CSP,
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-cache',
    },
    body: asset.body,
  };
}

export async function dashboardHandler(request: HttpRequest): Promise<HttpResponseInit> {
  return serve(dashboardPage(request.query.get('code')));
}

export async function dashboardAssetHandler(request: HttpRequest): Promise<HttpResponseInit> {
  const name = request.params['asset'] ?? '';
  const asset = Object.hasOwn(DASHBOARD_ASSETS, name) ? DASHBOARD_ASSETS[name] : undefined;
  if (asset === undefined) throw new NotFoundError(`No dashboard file ${JSON.stringify(name)}`);
  return serve(asset);
}

// Opened as /api/dashboard?code=<function key>; the page passes the key on to its files and API calls.
app.http('dashboard', {
  route: 'dashboard',
  methods: ['GET'],
  authLevel: 'function',
  handler: httpHandler(dashboardHandler),
});
app.http('dashboardAsset', {
  route: 'dashboard/{asset}',
  methods: ['GET'],
  authLevel: 'function',
  handler: httpHandler(dashboardAssetHandler),
});
