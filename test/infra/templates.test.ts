import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  evaluate,
  getPath,
  isArrayValue,
  isObjectValue,
  modulePath,
  moduleScope,
  trace,
  type BicepFile,
  type Scope,
} from './bicep.js';
import {
  blobContainerNames,
  functionApp,
  infraDir,
  loadBicep,
  mainBicepPath,
  mainScope,
  parametersFile,
  parseEnvReference,
  readJson,
  readText,
  repoRoot,
} from './infraModel.js';
import { parseSimpleYaml, yamlPath } from './yaml.js';

const main = mainScope();

/** Every Bicep file reachable from main.bicep, with the scope it is called in. */
function allScopes(): Scope[] {
  const seen = new Map<string, Scope>();
  const visit = (scope: Scope): void => {
    if (seen.has(scope.file.path)) return;
    seen.set(scope.file.path, scope);
    for (const module of scope.file.modules) {
      if (existsSync(modulePath(scope.file, module))) visit(moduleScope(scope, module));
    }
  };
  visit(main);
  return [...seen.values()];
}

/** Variables azd sets by itself in every environment. */
const AZD_PROVIDED = ['AZURE_ENV_NAME', 'AZURE_LOCATION', 'AZURE_SUBSCRIPTION_ID', 'AZURE_PRINCIPAL_ID'];

describe('infra/main.bicep and its modules', () => {
  it('deploys at subscription scope into a resource group tagged with the azd environment name', () => {
    expect(main.file.targetScope).toBe('subscription');
    const rg = main.file.resources.find((r) => r.type === 'Microsoft.Resources/resourceGroups');
    expect(rg).toBeDefined();
    const tags = evaluate(getPath(rg!.body, ['tags']) ?? '{}', main);
    expect(isObjectValue(tags) ? tags.entries.map((e) => [e.key, e.expr]) : []).toEqual([
      ['azd-env-name', 'environmentName'],
    ]);
  });

  it('references module files that exist', () => {
    const missing = allScopes().flatMap((scope) =>
      scope.file.modules
        .filter((m) => !existsSync(modulePath(scope.file, m)))
        .map((m) => `${scope.file.path}: ${m.path}`),
    );
    expect(missing).toEqual([]);
  });

  it('passes each module only parameters it declares, and every one it requires', () => {
    const problems: string[] = [];
    for (const scope of allScopes()) {
      for (const module of scope.file.modules) {
        const target = loadBicep(modulePath(scope.file, module));
        const passed = new Set(module.params.map((p) => p.key));
        for (const name of passed)
          if (!target.params.has(name)) problems.push(`${module.symbol}: ${name} is not a parameter of ${module.path}`);
        for (const param of target.params.values()) {
          if (param.defaultExpr === undefined && !passed.has(param.name))
            problems.push(`${module.symbol}: ${module.path} needs ${param.name}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('reads only outputs the modules declare', () => {
    const problems: string[] = [];
    for (const scope of allScopes()) {
      for (const [, symbol, output] of scope.file.text.matchAll(/\b(\w+)\.outputs\.(\w+)/g)) {
        const module = scope.file.modules.find((m) => m.symbol === symbol);
        if (module === undefined) problems.push(`${scope.file.path}: ${symbol} is not a module`);
        else if (!loadBicep(modulePath(scope.file, module)).outputs.has(output!))
          problems.push(`${module.path} has no output ${output}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('uses only abbreviations that abbreviations.json defines', () => {
    const abbreviations = readJson<Record<string, string>>(join(infraDir, 'abbreviations.json'));
    const used = [...main.file.text.matchAll(/\babbrs\.(\w+)/g)].map((m) => m[1]!);
    expect(used.length).toBeGreaterThan(0);
    expect(used.filter((key) => !(key in abbreviations))).toEqual([]);
  });

  it('keeps every symbol unique within a file', () => {
    for (const scope of allScopes()) {
      const file: BicepFile = scope.file;
      const symbols = [
        ...file.params.keys(),
        ...file.vars.keys(),
        ...file.resources.map((r) => r.symbol),
        ...file.modules.map((m) => m.symbol),
      ];
      expect(
        symbols.filter((s, i) => symbols.indexOf(s) !== i),
        file.path,
      ).toEqual([]);
    }
  });

  it('runs the app on Flex Consumption, Node 22, identity-based code deployment, bounded scale-out', () => {
    const { use, site } = functionApp();
    const plan = use.scope.file.resources.find((r) => r.type === 'Microsoft.Web/serverfarms');
    expect(getPath(plan!.body, ['sku', 'name'])).toBe("'FC1'");
    expect(getPath(plan!.body, ['sku', 'tier'])).toBe("'FlexConsumption'");
    const config = (...path: string[]) =>
      evaluate(getPath(site.body, ['properties', 'functionAppConfig', ...path]) ?? "''", use.scope);
    expect(config('runtime', 'name')).toBe('node');
    expect(config('runtime', 'version')).toBe('22');
    expect(config('deployment', 'storage', 'type')).toBe('blobContainer');
    expect(config('deployment', 'storage', 'authentication', 'type')).toBe('UserAssignedIdentity');
    // The package container is one of the containers the storage module creates.
    const value = getPath(site.body, ['properties', 'functionAppConfig', 'deployment', 'storage', 'value']) ?? '';
    const containerVar = /\$\{(\w+)\}'$/.exec(value)?.[1] ?? '';
    const packageContainer = trace(containerVar, use.scope).expr;
    const storageModule = main.file.modules.find((m) => m.path === 'app/storage.bicep')!;
    const created = evaluate(storageModule.params.find((p) => p.key === 'containerNames')!.expr, main);
    const createdExprs = isArrayValue(created) ? created.items.map((i) => trace(i.expr, i.scope).expr) : [];
    expect(createdExprs).toContain(packageContainer);
    // Scale-out: from main.bicep's parameter, which explains its default.
    const maxInstances = trace(
      getPath(site.body, ['properties', 'functionAppConfig', 'scaleAndConcurrency', 'maximumInstanceCount']) ?? '',
      use.scope,
      {
        followDefaults: false,
      },
    );
    expect(maxInstances.scope.file.path).toBe(mainBicepPath);
    expect(maxInstances.expr).toBe('maximumInstanceCount');
    expect(evaluate('maximumInstanceCount', main)).toBe(10);
    const source = readFileSync(mainBicepPath, 'utf8');
    const declaredAt = source.indexOf('param maximumInstanceCount');
    expect(source.slice(Math.max(0, declaredAt - 1500), declaredAt)).toMatch(/\/\/.*budget/);
    expect(blobContainerNames().length).toBeGreaterThan(0);
  });

  it('tags the function app with the azd service name that azure.yaml deploys', () => {
    const { use, site } = functionApp();
    const tagsExpr = getPath(site.body, ['tags']) ?? '';
    const serviceExpr = /'azd-service-name':\s*(\w+)/.exec(tagsExpr)?.[1];
    expect(serviceExpr).toBeDefined();
    const serviceName = evaluate(serviceExpr!, use.scope);
    expect(serviceName).toBe('api');
    expect(yamlPath(azureYaml(), 'services', String(serviceName), 'host')).toBe('function');
  });
});

describe('infra/main.parameters.json', () => {
  const parameters = parametersFile().parameters;

  it('provides every main.bicep parameter without a default', () => {
    const missing = [...main.file.params.values()]
      .filter((p) => p.defaultExpr === undefined && !(p.name in parameters))
      .map((p) => p.name);
    expect(missing).toEqual([]);
  });

  it('sets only parameters main.bicep declares', () => {
    expect(Object.keys(parameters).filter((name) => !main.file.params.has(name))).toEqual([]);
  });

  it('uses the same defaults as main.bicep, so an unset variable changes nothing', () => {
    const differing: string[] = [];
    for (const [name, entry] of Object.entries(parameters)) {
      const reference = parseEnvReference(entry.value);
      if (reference?.defaultValue === undefined) continue;
      const bicepDefault = main.file.params.get(name)?.defaultExpr;
      const expected = bicepDefault === undefined ? undefined : String(evaluate(bicepDefault, main));
      if (reference.defaultValue !== expected)
        differing.push(`${name}: ${reference.defaultValue} vs ${String(expected)}`);
    }
    expect(differing).toEqual([]);
  });

  it('asks only for variables that azd sets or docs/deploy.md explains', () => {
    const deployDoc = readText('docs/deploy.md');
    const unexplained = Object.values(parameters)
      .map((entry) => parseEnvReference(entry.value))
      .filter((reference) => reference !== undefined && reference.defaultValue === undefined)
      .map((reference) => reference!.name)
      .filter((name) => !AZD_PROVIDED.includes(name) && !deployDoc.includes(`azd env set ${name}`));
    expect(unexplained).toEqual([]);
  });
});

function azureYaml() {
  return parseSimpleYaml(readFileSync(join(repoRoot, 'azure.yaml'), 'utf8'));
}

describe('azure.yaml', () => {
  const yaml = azureYaml();

  it('deploys the project root as the TypeScript function app service api, built locally', () => {
    expect(yamlPath(yaml, 'services', 'api', 'project')).toBe('.');
    expect(yamlPath(yaml, 'services', 'api', 'language')).toMatch(/^(ts|js)$/);
    expect(yamlPath(yaml, 'services', 'api', 'host')).toBe('function');
    expect(yamlPath(yaml, 'infra', 'path')).toBe('infra');
    expect(yamlPath(yaml, 'infra', 'module')).toBe('main');
  });

  it('zips the staging folder npm run package fills, and never prunes the working tree', () => {
    expect(yamlPath(yaml, 'services', 'api', 'remoteBuild')).toBe('false');
    expect(yamlPath(yaml, 'services', 'api', 'dist')).toBe('.deploy/api');
    const packageJson = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(packageJson.scripts['package']).toMatch(/npm run build\b[\s\S]*packageApp\.js/);
    for (const shell of ['posix', 'windows']) {
      const prepackage = String(yamlPath(yaml, 'services', 'api', 'hooks', 'prepackage', shell, 'run'));
      expect(prepackage).toMatch(/^npm run package\b/);
      // azd runs `npm run build` right after this hook: nothing may take the dev tools away.
      expect(prepackage).not.toMatch(/npm prune|--omit=dev|--production/);
    }
    expect(yamlPath(yaml, 'services', 'api', 'hooks', 'postpackage')).toBeUndefined();
    // azd reads .funcignore from the project to decide on remote builds: one excluding node_modules
    // would contradict remoteBuild: false.
    expect(existsSync(join(repoRoot, '.funcignore'))).toBe(false);
  });

  it('runs postdeploy hooks that exist', () => {
    for (const shell of ['posix', 'windows']) {
      const run = String(yamlPath(yaml, 'hooks', 'postdeploy', shell, 'run'));
      expect(existsSync(join(repoRoot, run)), run).toBe(true);
    }
  });
});

describe('the postdeploy hook creating the Event Grid subscription', () => {
  const subscriptionModule = main.file.modules.find((m) => m.path === 'app/eventgrid-subscription.bicep')!;
  const moduleFile = loadBicep(modulePath(main.file, subscriptionModule));
  const scripts = {
    sh: {
      path: join(infraDir, 'scripts/postdeploy.sh'),
      arg: /^\s*(\w+)="\$(\w+)"/gm,
      envRead: /\$\{?([A-Z][A-Z0-9_]+)/g,
      template: /--template-file\s+"\$\(dirname "\$0"\)\/([^"]+)"/,
    },
    ps1: {
      path: join(infraDir, 'scripts/postdeploy.ps1'),
      arg: /^\s*(\w+)=\$env:(\w+)/gm,
      envRead: /\$env:([A-Z][A-Z0-9_]+)|'([A-Z][A-Z0-9_]+)'/g,
      template: /--template-file\s+\(Join-Path \$PSScriptRoot '([^']+)'\)/,
    },
  };

  it('is the eventgrid-subscription module, which main.bicep deploys only on request', () => {
    expect(subscriptionModule.condition).toBe('deployEventSubscription');
    expect(evaluate('deployEventSubscription', main)).toBe(false);
  });

  for (const [kind, script] of Object.entries(scripts)) {
    it(`${kind}: deploys that module with each parameter it needs, from the output main.bicep passes the module`, () => {
      const text = readFileSync(script.path, 'utf8');
      const template = script.template.exec(text)?.[1];
      expect(template && resolve(dirname(script.path), template)).toBe(moduleFile.path);
      const args = new Map([...text.matchAll(script.arg)].map((m) => [m[1]!, m[2]!]));
      const required = [...moduleFile.params.values()].filter((p) => p.defaultExpr === undefined).map((p) => p.name);
      expect([...args.keys()].sort()).toEqual(required.sort());
      for (const [param, variable] of args) {
        const output = main.file.outputs.get(variable);
        expect(output, `${variable} is not a main.bicep output`).toBeDefined();
        const passed = subscriptionModule.params.find((p) => p.key === param);
        expect(trace(output!.expr, main).expr, `${param} from ${variable}`).toBe(trace(passed!.expr, main).expr);
      }
    });

    it(`${kind}: reads only variables azd sets or main.bicep outputs`, () => {
      const text = readFileSync(script.path, 'utf8');
      const read = new Set([...text.matchAll(script.envRead)].map((m) => (m[1] ?? m[2])!));
      const unknown = [...read].filter((name) => !main.file.outputs.has(name) && !AZD_PROVIDED.includes(name));
      expect(unknown).toEqual([]);
    });
  }
});

describe('package.json', () => {
  const pkg = readJson<{ main?: string }>(join(repoRoot, 'package.json'));

  it.skipIf(pkg.main === undefined)(
    'points "main" at the compiled src/index.ts, where the Functions host finds the app',
    () => {
      expect(pkg.main).toBe('dist/src/index.js');
    },
  );
});
