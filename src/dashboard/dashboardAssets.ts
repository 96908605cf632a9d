import { browserScript } from './browserScript.js';
import { renderDashboardPage } from './dashboardPage.js';
import { DASHBOARD_CSS } from './dashboardStyles.js';

export interface DashboardAsset {
  readonly contentType: string;
  readonly body: string;
}

export function dashboardPage(code: string | null): DashboardAsset {
  return { contentType: 'text/html; charset=utf-8', body: renderDashboardPage(code) };
}

/** The files under /api/dashboard/{asset}. The script is read (or, from the sources, bundled) when first served. */
export const DASHBOARD_ASSETS: Readonly<Record<string, DashboardAsset>> = {
  'app.js': {
    contentType: 'text/javascript; charset=utf-8',
    get body() {
      return browserScript();
    },
  },
  'styles.css': { contentType: 'text/css; charset=utf-8', body: DASHBOARD_CSS },
};

/** Only same-origin scripts, styles and API calls: the page loads nothing from elsewhere. */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
