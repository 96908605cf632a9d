import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The dashboard's browser script is TypeScript (./browser/dashboard.ts, type-checked with the DOM
 * library by its own tsconfig). `npm run build` bundles it (scripts/bundleBrowserScript.ts) into one
 * classic script beside this module's compiled file, dist/src/dashboard/dashboard.js: the app only reads it.
 */
export const BROWSER_SCRIPT_FILE_NAME = 'dashboard.js';

/**
 * The built script. Compiled, this module sits beside it; run from the TypeScript sources (tests), it
 * reads the same file under dist/, which `npm test` builds first (and the test setup brings up to date).
 */
function builtScriptUrl(): URL {
  return import.meta.url.endsWith('.ts')
    ? new URL(`../../dist/src/dashboard/${BROWSER_SCRIPT_FILE_NAME}`, import.meta.url)
    : new URL(`./${BROWSER_SCRIPT_FILE_NAME}`, import.meta.url);
}

function readBuiltScript(): string {
  const file = builtScriptUrl();
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`The dashboard's script ${fileURLToPath(file)} is missing: npm run build writes it`, {
      cause: error,
    });
  }
}

let script: string | undefined;

/** The script served as /api/dashboard/app.js, read when first asked for. */
export function browserScript(): string {
  script ??= readBuiltScript();
  return script;
}
