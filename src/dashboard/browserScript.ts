import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type * as Esbuild from 'esbuild';

/**
 * The dashboard's browser script is TypeScript (./browser/dashboard.ts, type-checked with the DOM
 * library by its own tsconfig). `npm run build` bundles it into one classic script beside this
 * module's compiled file, dist/src/dashboard/dashboard.js, so the compiled app only reads a file.
 */
export const BROWSER_SCRIPT_FILE_NAME = 'dashboard.js';

/**
 * Bundles the browser script from its TypeScript entry into one self-contained script (an IIFE, as
 * the page loads it with a plain script tag). Needs esbuild, a dev dependency: only the build and
 * runs from the TypeScript sources (tests) call this; the compiled app never does.
 */
export function bundleBrowserScript(entryPath: string): string {
  const esbuild = createRequire(import.meta.url)('esbuild') as typeof Esbuild;
  const result = esbuild.buildSync({
    entryPoints: [entryPath],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    legalComments: 'none',
    logLevel: 'silent',
    write: false,
  });
  const [output] = result.outputFiles;
  if (output === undefined) throw new Error(`esbuild produced nothing for ${entryPath}`);
  return output.text;
}

function readBuiltScript(): string {
  const file = new URL(`./${BROWSER_SCRIPT_FILE_NAME}`, import.meta.url);
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`The dashboard's script ${fileURLToPath(file)} is missing: npm run build writes it`, {
      cause: error,
    });
  }
}

let script: string | undefined;

/** The script served as /api/dashboard/app.js: the built bundle, or (from the sources) bundled now, once. */
export function browserScript(): string {
  script ??= import.meta.url.endsWith('.ts')
    ? bundleBrowserScript(fileURLToPath(new URL('./browser/dashboard.ts', import.meta.url)))
    : readBuiltScript();
  return script;
}
