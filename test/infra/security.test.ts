import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getPath, modulePath, moduleScope, type Scope } from './bicep.js';
import { infraDir, mainScope, parametersFile, parametersPath, parseEnvReference } from './infraModel.js';

function allScopes(): Scope[] {
  const seen = new Map<string, Scope>();
  const visit = (scope: Scope): void => {
    if (seen.has(scope.file.path)) return;
    seen.set(scope.file.path, scope);
    for (const module of scope.file.modules) {
      if (existsSync(modulePath(scope.file, module))) visit(moduleScope(scope, module));
    }
  };
  visit(mainScope());
  return [...seen.values()];
}

/** Every declared (not `existing`) resource of a type, across the templates. */
function declared(type: string) {
  return allScopes().flatMap((scope) =>
    scope.file.resources.filter((r) => r.type === type && !r.existing).map((resource) => ({ scope, resource })),
  );
}

const property = (body: string, ...path: string[]) => getPath(body, path);

describe('no secrets in the templates', () => {
  it('main.parameters.json holds only ${...} references to the azd environment', () => {
    const literal = Object.entries(parametersFile().parameters).filter(
      ([, entry]) => parseEnvReference(entry.value) === undefined,
    );
    expect(literal.map(([name]) => name)).toEqual([]);
  });

  it('secure parameters have no default and no fallback value in main.parameters.json', () => {
    for (const scope of allScopes()) {
      for (const param of scope.file.params.values()) {
        if (!param.secure) continue;
        expect(param.defaultExpr, `${scope.file.path}: ${param.name}`).toBeUndefined();
      }
    }
    const main = mainScope().file;
    for (const param of main.params.values()) {
      if (!param.secure) continue;
      expect(
        parseEnvReference(parametersFile().parameters[param.name]?.value)?.defaultValue,
        param.name,
      ).toBeUndefined();
    }
  });

  it('no output carries a secure parameter or a listKeys() result', () => {
    for (const scope of allScopes()) {
      const secure = [...scope.file.params.values()].filter((p) => p.secure).map((p) => p.name);
      for (const output of scope.file.outputs.values()) {
        expect(output.expr, `${scope.file.path}: output ${output.name}`).not.toMatch(/\blist\w*\(/);
        for (const name of secure)
          expect(output.expr, `${scope.file.path}: output ${output.name}`).not.toMatch(new RegExp(`\\b${name}\\b`));
      }
    }
  });

  it('calls listKeys() only for the Functions host blob extension key the Event Grid webhook needs', () => {
    for (const scope of allScopes()) {
      for (const [call] of scope.file.text.matchAll(/\blist\w*\([^\n]*/g)) {
        expect(call, scope.file.path).toMatch(
          /^listKeys\('\$\{\w+\.id\}\/host\/default', '[\d-]+'\)\.systemKeys\.blobs_extension$/,
        );
      }
    }
  });

  it('writes no account keys, SAS tokens or connection strings', () => {
    const files = [
      ...allScopes().map((scope) => scope.file.path),
      parametersPath,
      ...readdirSync(join(infraDir, 'scripts')).map((name) => join(infraDir, 'scripts', name)),
    ];
    for (const path of files) {
      expect(readFileSync(path, 'utf8'), path).not.toMatch(
        /AccountKey=|SharedAccessSignature|listConnectionStrings|listAccountSas|primaryMasterKey|sig=/,
      );
    }
  });
});

describe('identity-only access', () => {
  it('storage accounts allow no shared keys, no public blobs, TLS 1.2 and HTTPS only', () => {
    const accounts = declared('Microsoft.Storage/storageAccounts');
    expect(accounts.length).toBeGreaterThan(0);
    for (const { resource } of accounts) {
      expect(property(resource.body, 'properties', 'allowSharedKeyAccess')).toBe('false');
      expect(property(resource.body, 'properties', 'allowBlobPublicAccess')).toBe('false');
      expect(property(resource.body, 'properties', 'minimumTlsVersion')).toBe("'TLS1_2'");
      expect(property(resource.body, 'properties', 'supportsHttpsTrafficOnly')).toBe('true');
    }
    for (const { resource } of declared('Microsoft.Storage/storageAccounts/blobServices/containers')) {
      expect(property(resource.body, 'properties', 'publicAccess')).toBe("'None'");
    }
  });

  it('Cosmos DB accounts disable local (key) auth', () => {
    const accounts = declared('Microsoft.DocumentDB/databaseAccounts');
    expect(accounts.length).toBeGreaterThan(0);
    for (const { resource } of accounts) {
      expect(property(resource.body, 'properties', 'disableLocalAuth')).toBe('true');
      expect(property(resource.body, 'properties', 'disableKeyBasedMetadataWriteAccess')).toBe('true');
    }
  });

  it('Application Insights takes only Entra ID authenticated telemetry', () => {
    for (const { resource } of declared('Microsoft.Insights/components')) {
      expect(property(resource.body, 'properties', 'DisableLocalAuth')).toBe('true');
    }
  });

  it('Key Vault uses Azure RBAC, not access policies', () => {
    const vaults = declared('Microsoft.KeyVault/vaults');
    expect(vaults.length).toBeGreaterThan(0);
    for (const { resource } of vaults) {
      expect(property(resource.body, 'properties', 'enableRbacAuthorization')).toBe('true');
      expect(property(resource.body, 'properties', 'accessPolicies')).toBeUndefined();
    }
  });

  it('the function app is HTTPS only', () => {
    for (const { resource } of declared('Microsoft.Web/sites')) {
      expect(property(resource.body, 'properties', 'httpsOnly')).toBe('true');
    }
  });

  it('names every role assignment with guid(), so re-provisioning finds it', () => {
    const assignments = [
      ...declared('Microsoft.Authorization/roleAssignments'),
      ...declared('Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments'),
    ];
    expect(assignments.length).toBeGreaterThan(0);
    for (const { scope, resource } of assignments) {
      expect(property(resource.body, 'name'), `${scope.file.path}: ${resource.symbol}`).toMatch(/^guid\(/);
    }
  });

  it('grants the app identity the data roles its connections need', () => {
    const rbac = allScopes().find((scope) => scope.file.path.endsWith('rbac.bicep'))!.file;
    const roleIds = new Map([...rbac.vars.entries()].map(([name, expr]) => [name, expr.replace(/'/g, '')]));
    const granted = (roleId: string) =>
      rbac.resources.some((r) => {
        const roleExpr = property(r.body, 'properties', 'roleDefinitionId') ?? '';
        const usesRole = [...roleIds.entries()].some(([name, id]) => id === roleId && roleExpr.includes(name));
        return (
          usesRole &&
          property(r.body, 'properties', 'principalId') === 'identityPrincipalId' &&
          r.condition === undefined
        );
      });
    expect(granted('b7e6dc6d-f1e8-4753-8033-0f276bb0955b'), 'Storage Blob Data Owner').toBe(true);
    expect(granted('974c5e8b-45b9-4653-ba55-5f855dd0fb88'), 'Storage Queue Data Contributor').toBe(true);
    expect(granted('0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'), 'Storage Table Data Contributor').toBe(true);
    expect(granted('4633458b-17de-408a-b874-0445c86b69e6'), 'Key Vault Secrets User').toBe(true);
    expect(granted('3913510d-42f4-4e42-8a64-420c390055eb'), 'Monitoring Metrics Publisher').toBe(true);
    expect(granted('00000000-0000-0000-0000-000000000002'), 'Cosmos DB Built-in Data Contributor').toBe(true);
  });
});
