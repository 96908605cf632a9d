/**
 * Vitest global setup: bundles the dashboard's browser script into dist/ (as `npm run build` does), so
 * that the app run from its TypeScript sources serves the script of the current sources.
 */
import { writeBrowserScript } from '../../scripts/bundleBrowserScript.js';

export default function setup(): void {
  writeBrowserScript(new URL('../../', import.meta.url));
}
