/**
 * Bundles the dashboard's browser script (src/dashboard/browser/dashboard.ts) into one self-contained
 * classic script (an IIFE: the page loads it with a plain script tag). esbuild is a dev dependency, so
 * this lives with the build: the app only reads the file it writes (src/dashboard/browserScript.ts).
 */
import { buildSync } from 'esbuild';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BROWSER_SCRIPT_FILE_NAME } from '../src/dashboard/browserScript.js';

/** Bundles the browser script from its TypeScript entry and returns the script's text. */
export function bundleBrowserScript(entryPath: string): string {
  const result = buildSync({
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

/** Bundles the script of the repository at `root` into its built app, beside dist/src/dashboard/browserScript.js. */
export function writeBrowserScript(root: URL): void {
  const entry = fileURLToPath(new URL('src/dashboard/browser/dashboard.ts', root));
  const target = fileURLToPath(new URL(`dist/src/dashboard/${BROWSER_SCRIPT_FILE_NAME}`, root));
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, bundleBrowserScript(entry));
}
