/**
 * npm run package:cli: the command line as its own deliverable (decision 0009). esbuild bundles `cli/main.ts`
 * with everything it imports (commander, cli-progress, undici, the storage and identity SDKs, the few
 * `src/core` modules) into one ESM file; `.deploy/cli` gets it with a `package.json` that has a `bin` and no
 * dependencies, ready for `npm pack` / `npm publish`, after which `npx phi3-batch` runs it.
 */
import { chmodSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const OUT_DIR = '.deploy/cli';
const BUNDLE = 'phi3-batch.mjs';

const projectDir = process.cwd();
const rootPackage = JSON.parse(readFileSync(join(projectDir, 'package.json'), 'utf8')) as {
  readonly name: string;
  readonly version: string;
  readonly engines?: Record<string, string>;
};
const outDir = join(projectDir, OUT_DIR);
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });

const result = await build({
  entryPoints: [join(projectDir, 'cli/main.ts')],
  outfile: join(outDir, BUNDLE),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  legalComments: 'linked',
  // Some bundled CommonJS packages call require() for Node's own modules: give the ESM bundle one.
  banner: {
    js: "import { createRequire as phi3BatchCreateRequire } from 'node:module';\nconst require = phi3BatchCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
if (result.errors.length > 0) process.exit(1);
chmodSync(join(outDir, BUNDLE), 0o755);

writeFileSync(
  join(outDir, 'package.json'),
  `${JSON.stringify(
    {
      name: rootPackage.name,
      version: rootPackage.version,
      description: 'Command line for the Phi-3 batch service: submit JSONL batch files, follow jobs, fetch results.',
      type: 'module',
      bin: { [rootPackage.name]: BUNDLE },
      files: [BUNDLE, `${BUNDLE}.LEGAL.txt`],
      engines: rootPackage.engines,
    },
    null,
    2,
  )}\n`,
);
const bytes = statSync(join(outDir, BUNDLE)).size;
console.log(`cli: ${OUT_DIR}/${BUNDLE} (${(bytes / 1_000_000).toFixed(1)} MB, no dependencies)`);
