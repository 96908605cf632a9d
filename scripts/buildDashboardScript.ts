/**
 * Build step (npm run build, after tsc): bundles the dashboard's browser script from its TypeScript
 * sources into dist/src/dashboard/, beside the compiled module that serves it.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BROWSER_SCRIPT_FILE_NAME, bundleBrowserScript } from '../src/dashboard/browserScript.js';

// This file runs as dist/scripts/buildDashboardScript.js.
const root = new URL('../../', import.meta.url);
const entry = fileURLToPath(new URL('src/dashboard/browser/dashboard.ts', root));
writeFileSync(new URL(`dist/src/dashboard/${BROWSER_SCRIPT_FILE_NAME}`, root), bundleBrowserScript(entry));
