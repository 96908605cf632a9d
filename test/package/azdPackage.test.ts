/**
 * Replays azd's packaging of this Node function service, step by step, in a clean clone, and checks the zip.
 * azd's sequence, from Azure/azure-dev at commit ae35809f496491989273d0edefdeb70f245f399b:
 * - cli/azd/pkg/project/service_manager.go `Package`: restore when not done yet (Node requires it:
 *   `RequireRestore: true`, `RequireBuild: false`), then, inside the `package` event (pre/post hooks around
 *   it), the framework's `Package`, then the service target's `Package`;
 * - cli/azd/pkg/project/framework_service_node.go `Restore`: `npm install --no-audit --no-fund --prefer-offline`
 *   unless node_modules is newer than the lockfile; `Package`: `npm run build --if-present`, then the package
 *   folder is the service's `dist` (`OutputPath`), which must not be empty;
 * - cli/azd/pkg/project/service_target_functionapp.go `Package` and project_utils.go `createDeployableZip`:
 *   zip that folder, resolving symbolic links, leaving out `.azure/`, `local.settings.json` and the
 *   `.funcignore` file; with no `.funcignore` and `remoteBuild: false`, node_modules goes in.
 * Only committed files are in the clone: commit before running this.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, parse } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFunctionApp } from '../../dev/local/host/captureRegistrations.js';
import { zipDirectory } from '../../scripts/package/zipDirectory.js';
import { repoRoot } from '../infra/infraModel.js';
import { parseSimpleYaml, yamlPath } from '../infra/yaml.js';

const MAX_UNPACKED_BYTES = 150_000_000;
/** Packages and folders that must never ship: the local stack, test tooling, compilers, the CLI's own. */
const FORBIDDEN_PACKAGES = [
  'azurite',
  '@vercel/cosmosdb-server',
  'selfsigned',
  'cron-parser',
  'commander',
  'cli-progress',
  'vitest',
  'typescript',
  'esbuild',
  'fast-check',
];
const FORBIDDEN_TOP_LEVEL = [
  'test',
  'docs',
  '.git',
  '.local',
  'examples',
  'dev',
  'cli',
  'scripts',
  'src',
  'infra',
  '.azure',
];

interface Registration {
  readonly name: string;
  readonly bindings: Record<string, Record<string, unknown>>;
}

/** Without npm's and vitest's variables, NODE_PATH or NODE_OPTIONS: a shell as a user has it. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|VITEST|NODE_PATH$|NODE_OPTIONS$|INIT_CWD$)/i.test(key)) continue;
    env[key] = value;
  }
  return env;
}

function run(command: string, args: readonly string[], cwd: string): string {
  const startedAt = performance.now();
  const result = spawnSync(command, args, { cwd, env: cleanEnv(), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} failed in ${cwd} (${String(result.status)}):\n${result.stdout}\n${result.stderr}`,
    );
  }
  console.log(`${command} ${args.join(' ')}: ${((performance.now() - startedAt) / 1000).toFixed(1)} s`);
  return result.stdout;
}

/** What azd's `IsDependenciesUpToDate` (pkg/tools/node/detect.go) checks before skipping the install. */
function dependenciesUpToDate(projectDir: string): boolean {
  const marker = join(projectDir, 'node_modules/.package-lock.json');
  const lock = join(projectDir, 'package-lock.json');
  return existsSync(marker) && existsSync(lock) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs;
}

/** The developer's node_modules, as far as this test could disturb it. */
function nodeModulesSnapshot(): string {
  const dir = join(repoRoot, 'node_modules');
  const marker = statSync(join(dir, '.package-lock.json'));
  return JSON.stringify({ entries: readdirSync(dir).sort(), marker: marker.mtimeMs, size: marker.size });
}

function walkFiles(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const relative = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    return entry.isDirectory() ? walkFiles(join(dir, entry.name), relative) : [relative];
  });
}

/** Bindings without the generated names, which are hashes of the options. */
function normalise(registrations: readonly Registration[]): Record<string, unknown[]> {
  return Object.fromEntries(
    registrations
      .map(
        (r) =>
          [
            r.name,
            Object.values(r.bindings)
              .map((b) => JSON.stringify(b))
              .sort(),
          ] as const,
      )
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
}

describe('the package azd deploys (replayed in a clean clone)', () => {
  let work: string;
  let unpacked: string;
  let before: string;
  let files: string[] = [];
  let loaded: { functions: Registration[]; httpStream: boolean };

  beforeAll(() => {
    before = nodeModulesSnapshot();
    work = mkdtempSync(join(tmpdir(), 'phi3-azd-package-'));
    const clone = join(work, 'clone');
    run('git', ['clone', '--quiet', '--no-checkout', repoRoot, clone], work);
    run('git', ['checkout', '--quiet', 'HEAD'], clone);

    const azureYaml = parseSimpleYaml(readFileSync(join(clone, 'azure.yaml'), 'utf8'));
    const service = (...path: string[]) => yamlPath(azureYaml, 'services', 'api', ...path);
    expect(service('language')).toBe('ts');
    expect(service('host')).toBe('function');
    const projectDir = join(clone, String(service('project')));
    const hook = (name: string) => service('hooks', name, 'posix', 'run');

    // 1. restore
    if (!dependenciesUpToDate(projectDir))
      run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], projectDir);
    // 2. prepackage hook (service hooks run in the service's folder)
    const prepackage = hook('prepackage');
    if (typeof prepackage === 'string') run('sh', ['-c', prepackage], projectDir);
    // 3. the framework's package step: the build script, then the package folder
    run('npm', ['run', 'build', '--if-present'], projectDir);
    const dist = service('dist');
    const packageDir = typeof dist === 'string' ? join(projectDir, dist) : projectDir;
    expect(readdirSync(packageDir).length, `${packageDir} is empty`).toBeGreaterThan(0);
    // 4. the function app target zips it
    expect(existsSync(join(packageDir, '.funcignore')), 'this replay implements no .funcignore patterns').toBe(false);
    const zipPath = join(work, 'api-azddeploy.zip');
    return zipDirectory(packageDir, zipPath, {
      include: (_absolute, _relative, stats) => {
        const name = parse(_absolute).base;
        if (stats.isDirectory()) return name !== '.azure';
        return name !== '.funcignore' && name !== 'local.settings.json';
      },
    }).then(() => {
      // 5. postpackage hook
      const postpackage = hook('postpackage');
      if (typeof postpackage === 'string') run('sh', ['-c', postpackage], projectDir);
      const probe = writeProbe(join(projectDir, 'dist/dev/local/host'), join(work, 'probe'));
      // Unpacked far from the clone: no node_modules of the clone or of this repository above it.
      rmSync(clone, { recursive: true, force: true });
      unpacked = join(work, 'site', 'wwwroot');
      mkdirSync(unpacked, { recursive: true });
      run('unzip', ['-q', zipPath, '-d', unpacked], work);
      files = walkFiles(unpacked);
      loaded = loadPackagedApp(probe, unpacked);
    });
    // Two builds and two installs (warm npm cache) on a shared machine.
  }, 15 * 60_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('has host.json and package.json at the root, with main pointing at the compiled entry point', () => {
    expect(files).toContain('host.json');
    const packageJson = JSON.parse(readFileSync(join(unpacked, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(packageJson['main']).toBe('dist/src/index.js');
    expect(files).toContain('dist/src/index.js');
    expect(packageJson['devDependencies']).toBeUndefined();
    expect(packageJson['scripts']).toBeUndefined();
  });

  it('holds only the compiled app, its manifest, lockfile, host.json and production node_modules', () => {
    const topLevel = [...new Set(files.map((file) => file.split('/')[0]))].sort();
    expect(topLevel).toEqual(['dist', 'host.json', 'node_modules', 'package-lock.json', 'package.json']);
    expect(topLevel.filter((entry) => FORBIDDEN_TOP_LEVEL.includes(entry ?? ''))).toEqual([]);
    expect([...new Set(files.filter((f) => f.startsWith('dist/')).map((f) => f.split('/')[1]))]).toEqual(['src']);
    const present = FORBIDDEN_PACKAGES.filter((name) => existsSync(join(unpacked, 'node_modules', name)));
    expect(present).toEqual([]);
    expect(files.filter((file) => /(^|\/)(\.git|\.local|__tests__)\//.test(file) || file.endsWith('.test.js'))).toEqual(
      [],
    );
  });

  it(`is at most ${MAX_UNPACKED_BYTES / 1e6} MB unpacked`, () => {
    const bytes = files.reduce((sum, file) => sum + statSync(join(unpacked, file)).size, 0);
    console.log(`package: ${(bytes / 1e6).toFixed(1)} MB unpacked, ${files.length} files`);
    expect(bytes).toBeLessThanOrEqual(MAX_UNPACKED_BYTES);
  });

  it('loads with only its own node_modules and registers every function with the bindings of src/index.ts', async () => {
    const expected = await loadFunctionApp([join(repoRoot, 'src/index.ts')]);
    const expectedRegistrations = expected.functions.map((fn) => ({
      name: fn.metadata.name,
      bindings: fn.metadata.bindings,
    }));
    expect(loaded.functions.length).toBeGreaterThan(0);
    expect(normalise(loaded.functions)).toEqual(normalise(expectedRegistrations));
    expect(loaded.httpStream).toBe(true);
  });

  it("leaves the developer's node_modules as it was", () => {
    expect(nodeModulesSnapshot()).toBe(before);
    for (const tool of ['typescript', 'vitest', 'azurite']) {
      expect(existsSync(join(repoRoot, 'node_modules', tool)), tool).toBe(true);
    }
  });
});

/**
 * A probe script that imports the packaged entry point through the same `@azure/functions-core` capture the local
 * host uses (as compiled by the replayed build; it imports only Node's own modules, so it lends the app nothing)
 * and prints what it registered.
 */
function writeProbe(compiledHostDir: string, probeDir: string): string {
  mkdirSync(probeDir, { recursive: true });
  const compiled = (name: string) => readFileSync(join(compiledHostDir, name), 'utf8');
  const capture = join(probeDir, 'captureRegistrations.mjs');
  writeFileSync(capture, compiled('captureRegistrations.js').replace("'./errors.js'", "'./errors.mjs'"));
  writeFileSync(join(probeDir, 'errors.mjs'), compiled('errors.js'));
  const probe = join(probeDir, 'probe.mjs');
  writeFileSync(
    probe,
    [
      `const { loadFunctionApp } = await import(${JSON.stringify(pathToFileURL(capture).href)});`,
      'const app = await loadFunctionApp([process.argv[2]]);',
      'const functions = app.functions.map((fn) => ({ name: fn.metadata.name, bindings: fn.metadata.bindings }));',
      'process.stdout.write(JSON.stringify({ functions, httpStream: app.httpStream }));',
      'process.exit(0);',
    ].join('\n'),
  );
  return probe;
}

/** Runs the packaged entry point in a child process from the unpacked folder, with NODE_PATH unset. */
function loadPackagedApp(probe: string, unpacked: string): { functions: Registration[]; httpStream: boolean } {
  let dir = dirname(unpacked);
  for (;;) {
    expect(existsSync(join(dir, 'node_modules')), `${dir} has a node_modules the app could fall back on`).toBe(false);
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  const entry = join(unpacked, 'dist/src/index.js');
  return JSON.parse(run(process.execPath, [probe, entry], unpacked)) as {
    functions: Registration[];
    httpStream: boolean;
  };
}
