/**
 * The deployed system as the infra files describe it, read with the tolerant Bicep reader:
 * the function app's settings, the storage containers and queues, the Cosmos DB containers and the
 * Event Grid subscription, each with the values its parameters default to.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  evaluate,
  fileScope,
  getPath,
  isArrayValue,
  isObjectValue,
  loopItemScope,
  moduleScope,
  readBicep,
  Unresolved,
  type BicepFile,
  type ModuleDecl,
  type ResourceDecl,
  type Scope,
  type Value,
} from './bicep.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const infraDir = join(repoRoot, 'infra');
export const mainBicepPath = join(infraDir, 'main.bicep');
export const parametersPath = join(infraDir, 'main.parameters.json');

const files = new Map<string, BicepFile>();

export function loadBicep(path: string): BicepFile {
  let file = files.get(path);
  if (file === undefined) {
    if (!existsSync(path)) throw new Error(`Bicep file not found: ${path}`);
    file = readBicep(path);
    files.set(path, file);
  }
  return file;
}

export function mainScope(): Scope {
  return fileScope(loadBicep(mainBicepPath), loadBicep);
}

export interface ModuleUse {
  readonly module: ModuleDecl;
  readonly scope: Scope;
}

/** Every local module main.bicep uses, with the scope of its file as main.bicep calls it. */
export function modules(): ModuleUse[] {
  const main = mainScope();
  return main.file.modules.map((module) => ({ module, scope: moduleScope(main, module) }));
}

/** Modules whose file declares (not just references) a resource of `type`. */
export function modulesDeclaring(type: string): Array<ModuleUse & { readonly resources: ResourceDecl[] }> {
  return modules()
    .map((use) => ({ ...use, resources: use.scope.file.resources.filter((r) => r.type === type && !r.existing) }))
    .filter((use) => use.resources.length > 0);
}

export function asString(value: Value): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Names a resource (or each iteration of a resource loop) gets. */
export function resourceNames(resource: ResourceDecl, scope: Scope): Value[] {
  const nameExpr = getPath(resource.body, ['name']);
  if (nameExpr === undefined) return [];
  if (resource.loop === undefined) return [evaluate(nameExpr, scope)];
  const source = evaluate(resource.loop.source, scope);
  if (!isArrayValue(source)) return [new Unresolved(resource.loop.source, scope.file.path)];
  return source.items.map((item) => evaluate(nameExpr, loopItemScope(scope, resource.loop!.item, item)));
}

/** Each iteration of a resource (one for a plain resource) with the scope its body evaluates in. */
export function resourceInstances(resource: ResourceDecl, scope: Scope): Scope[] {
  if (resource.loop === undefined) return [scope];
  const source = evaluate(resource.loop.source, scope);
  if (!isArrayValue(source)) return [];
  return source.items.map((item) => loopItemScope(scope, resource.loop!.item, item));
}

export function namesOfType(type: string): string[] {
  const names: string[] = [];
  for (const use of modulesDeclaring(type)) {
    for (const resource of use.resources) {
      for (const name of resourceNames(resource, use.scope)) {
        const text = asString(name);
        if (text !== undefined) names.push(text);
      }
    }
  }
  return names;
}

export const blobContainerNames = (): string[] =>
  namesOfType('Microsoft.Storage/storageAccounts/blobServices/containers');
export const queueNames = (): string[] => namesOfType('Microsoft.Storage/storageAccounts/queueServices/queues');

// ---------------------------------------------------------------------------------------------
// The function app
// ---------------------------------------------------------------------------------------------

export interface FunctionAppModel {
  readonly use: ModuleUse;
  readonly site: ResourceDecl;
  readonly settings: ReadonlyMap<string, AppSetting>;
  /** Settings whose names are only known at deployment (parts of the union built with toObject()). */
  readonly dynamicSettings: readonly Unresolved[];
}

export interface AppSetting {
  readonly name: string;
  readonly expr: string;
  readonly scope: Scope;
  readonly value: Value;
}

export function functionApp(): FunctionAppModel {
  const candidates = modulesDeclaring('Microsoft.Web/sites').flatMap((use) =>
    use.resources.filter((r) => /functionapp/.test(getPath(r.body, ['kind']) ?? '')).map((site) => ({ use, site })),
  );
  if (candidates.length !== 1) throw new Error(`Expected one function app in the infra, found ${candidates.length}`);
  const { use, site } = candidates[0]!;
  const config = use.scope.file.resources.find(
    (r) => r.type === 'Microsoft.Web/sites/config' && getPath(r.body, ['name']) === "'appsettings'",
  );
  if (config === undefined) throw new Error(`${use.scope.file.path}: no appsettings config resource`);
  const properties = getPath(config.body, ['properties']);
  if (properties === undefined) throw new Error(`${use.scope.file.path}: appsettings without properties`);
  const object = evaluate(properties, use.scope);
  if (!isObjectValue(object))
    throw new Error(`${use.scope.file.path}: cannot read the app settings object (${String(object)})`);
  const settings = new Map<string, AppSetting>();
  for (const entry of object.entries) {
    settings.set(entry.key, {
      name: entry.key,
      expr: entry.expr,
      scope: entry.scope,
      value: evaluate(entry.expr, entry.scope),
    });
  }
  return { use, site, settings, dynamicSettings: object.dynamic ?? [] };
}

// ---------------------------------------------------------------------------------------------
// Cosmos DB
// ---------------------------------------------------------------------------------------------

export interface CosmosContainerModel {
  readonly id: Value;
  readonly partitionKeyPaths: Value[];
  readonly includedPaths: string[];
  readonly excludedPaths: string[];
}

function pathList(value: Value): string[] {
  if (!isArrayValue(value)) return [];
  return value.items.flatMap((item) => {
    const entry = evaluate(item.expr, item.scope);
    if (!isObjectValue(entry)) return [];
    const path = entry.entries.find((e) => e.key === 'path');
    const text = path === undefined ? undefined : asString(evaluate(path.expr, path.scope));
    return text === undefined ? [] : [text];
  });
}

export function cosmosModel(): { databaseNames: Value[]; containers: CosmosContainerModel[] } {
  const databaseNames = modulesDeclaring('Microsoft.DocumentDB/databaseAccounts/sqlDatabases').flatMap((use) =>
    use.resources.flatMap((r) => resourceNames(r, use.scope)),
  );
  const containers: CosmosContainerModel[] = [];
  for (const use of modulesDeclaring('Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers')) {
    for (const resource of use.resources) {
      for (const scope of resourceInstances(resource, use.scope)) {
        const resourceBody = getPath(resource.body, ['properties', 'resource']) ?? '{}';
        const paths = getPath(resourceBody, ['partitionKey', 'paths']);
        const pathsValue = paths === undefined ? undefined : evaluate(paths, scope);
        containers.push({
          id: evaluate(getPath(resource.body, ['name']) ?? "''", scope),
          partitionKeyPaths:
            pathsValue !== undefined && isArrayValue(pathsValue)
              ? pathsValue.items.map((i) => evaluate(i.expr, i.scope))
              : [],
          includedPaths: pathList(evaluate(getPath(resourceBody, ['indexingPolicy', 'includedPaths']) ?? '[]', scope)),
          excludedPaths: pathList(evaluate(getPath(resourceBody, ['indexingPolicy', 'excludedPaths']) ?? '[]', scope)),
        });
      }
    }
  }
  return { databaseNames, containers };
}

// ---------------------------------------------------------------------------------------------
// Event Grid
// ---------------------------------------------------------------------------------------------

export interface EventSubscriptionModel {
  readonly use: ModuleUse;
  readonly resource: ResourceDecl;
  readonly endpointUrlExpr: string;
  readonly functionName: Value;
  readonly includedEventTypes: Value[];
  readonly subjectBeginsWith: Value;
  readonly subjectEndsWith: Value;
  readonly deadLetterContainer: Value;
}

export function eventSubscriptions(): EventSubscriptionModel[] {
  return modulesDeclaring('Microsoft.EventGrid/systemTopics/eventSubscriptions').flatMap((use) =>
    use.resources.map((resource) => {
      const scope = use.scope;
      const at = (...path: string[]): Value => {
        const expr = getPath(resource.body, ['properties', ...path]);
        return expr === undefined
          ? new Unresolved(`(missing ${path.join('.')})`, scope.file.path)
          : evaluate(expr, scope);
      };
      const endpointUrlExpr = getPath(resource.body, ['properties', 'destination', 'properties', 'endpointUrl']) ?? '';
      const functionNameExpr = /Host\.Functions\.\$\{([^}]+)\}/.exec(endpointUrlExpr)?.[1];
      const types = at('filter', 'includedEventTypes');
      return {
        use,
        resource,
        endpointUrlExpr,
        functionName:
          functionNameExpr === undefined
            ? new Unresolved('(no Host.Functions.<name>)', scope.file.path)
            : evaluate(functionNameExpr, scope),
        includedEventTypes: isArrayValue(types) ? types.items.map((i) => evaluate(i.expr, i.scope)) : [],
        subjectBeginsWith: at('filter', 'subjectBeginsWith'),
        subjectEndsWith: at('filter', 'subjectEndsWith'),
        deadLetterContainer: at(
          'deadLetterWithResourceIdentity',
          'deadLetterDestination',
          'properties',
          'blobContainerName',
        ),
      };
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Other files
// ---------------------------------------------------------------------------------------------

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8').replace(/^\uFEFF/, '')) as T;
}

export interface ParametersFile {
  readonly parameters: Readonly<Record<string, { readonly value?: unknown; readonly reference?: unknown }>>;
}

export function parametersFile(): ParametersFile {
  return readJson<ParametersFile>(parametersPath);
}

/** `${NAME}` or `${NAME=default}` (azd's substitution syntax). */
export function parseEnvReference(value: unknown): { name: string; defaultValue: string | undefined } | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?:=([^}]*))?\}$/.exec(value);
  return match ? { name: match[1]!, defaultValue: match[2] } : undefined;
}

export function readText(relativePath: string): string {
  return readFileSync(join(repoRoot, relativePath), 'utf8');
}
