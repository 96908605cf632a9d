/**
 * npm run package: the function app as azd deploys it (azure.yaml runs this as the `prepackage` hook and
 * zips `.deploy/api`, its `dist`). Builds nothing itself: `npm run package` builds first. Stages the compiled
 * app (`dist/src`), a `package.json` with the app's runtime `dependencies` only and no scripts, the lockfile
 * and `host.json`, installs production dependencies there alone, zips it and prints size and file count.
 * The working tree's own `node_modules` is never touched. Decision 0009.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { zipDirectory } from './zipDirectory.js';

/** Where the package is staged, relative to the project (azure.yaml `dist`). */
const STAGE_DIR = '.deploy/api';
const ZIP_PATH = '.deploy/api.zip';
const ENTRY_POINT = 'dist/src/index.js';

interface PackageJson {
  readonly name: string;
  readonly version: string;
  readonly type?: string;
  readonly main?: string;
  readonly engines?: Record<string, string>;
  readonly dependencies?: Record<string, string>;
}

interface TreeSize {
  readonly files: number;
  readonly bytes: number;
}

/** Regular files and their bytes under `dir` (links counted as themselves, not followed). */
async function measureTree(dir: string): Promise<TreeSize> {
  let files = 0;
  let bytes = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const inner = await measureTree(path);
      files += inner.files;
      bytes += inner.bytes;
    } else {
      files += 1;
      bytes += (await lstat(path)).size;
    }
  }
  return { files, bytes };
}

function stagedPackageJson(root: PackageJson): object {
  if (root.main !== ENTRY_POINT) {
    throw new Error(`package.json "main" must be ${ENTRY_POINT} (the compiled entry point), not ${String(root.main)}`);
  }
  return {
    name: root.name,
    version: root.version,
    private: true,
    type: root.type,
    main: root.main,
    engines: root.engines,
    dependencies: root.dependencies ?? {},
  };
}

function run(command: string, args: readonly string[], cwd: string): void {
  const result = spawnSync(command, args, { cwd, stdio: 'inherit', shell: process.platform === 'win32' });
  if (result.error) throw result.error;
  if (result.status !== 0)
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd} (exit code ${String(result.status)})`);
}

const megabytes = (bytes: number): string => `${(bytes / 1_000_000).toFixed(1)} MB`;

async function packageApp(projectDir: string): Promise<void> {
  const compiledApp = join(projectDir, 'dist/src');
  if (!existsSync(join(projectDir, ENTRY_POINT))) {
    throw new Error(`${ENTRY_POINT} is missing: run "npm run package" (it builds first), not this script alone`);
  }
  const stage = join(projectDir, STAGE_DIR);
  rmSync(stage, { recursive: true, force: true });
  rmSync(join(projectDir, ZIP_PATH), { force: true });
  mkdirSync(stage, { recursive: true });

  // Source maps point at ../src/*.ts, which is not shipped; nothing loads them.
  cpSync(compiledApp, join(stage, 'dist/src'), { recursive: true, filter: (source) => !source.endsWith('.map') });
  const rootPackage = JSON.parse(readFileSync(join(projectDir, 'package.json'), 'utf8')) as PackageJson;
  writeFileSync(join(stage, 'package.json'), `${JSON.stringify(stagedPackageJson(rootPackage), null, 2)}\n`);
  cpSync(join(projectDir, 'package-lock.json'), join(stage, 'package-lock.json'));
  cpSync(join(projectDir, 'host.json'), join(stage, 'host.json'));

  // The lockfile pins every version; --omit=dev leaves out what only the root's devDependencies need.
  run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline'], stage);

  const size = await measureTree(stage);
  const zip = await zipDirectory(stage, join(projectDir, ZIP_PATH));
  console.log(`package: ${STAGE_DIR} (${megabytes(size.bytes)} unpacked, ${size.files} files)`);
  console.log(`zip:     ${ZIP_PATH} (${megabytes(zip.compressedBytes)})`);
}

await packageApp(process.cwd());
