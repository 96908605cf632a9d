/**
 * Build step (npm run build, after tsc): bundles the dashboard's browser script from its TypeScript
 * sources into dist/src/dashboard/, beside the compiled module that serves it.
 */
import { writeBrowserScript } from './bundleBrowserScript.js';

// This file runs as dist/scripts/buildDashboardScript.js.
writeBrowserScript(new URL('../../', import.meta.url));
