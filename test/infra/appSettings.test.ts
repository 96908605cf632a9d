import { describe, expect, it } from 'vitest';
import { loadConfig, SETTINGS } from '../../src/config.js';
import { evaluate, getPath, Unresolved, trace, type Value } from './bicep.js';
import { functionApp, mainScope, parametersFile, parseEnvReference, type AppSetting } from './infraModel.js';
import {
  AZURE_ONLY,
  directEnvReads,
  FLEX_CONSUMPTION_UNSUPPORTED,
  LOCAL_HOST_SETTINGS,
  LOCAL_ONLY,
  localSampleValues,
  OPTIONAL_ALTERNATIVES,
  PLATFORM_SETTINGS,
  SETTINGS_THE_CODE_READS,
  STORAGE_IDENTITY_SETTINGS,
} from './settingsCatalog.js';

const app = functionApp();
const azure = app.settings;
const local = localSampleValues();
const settingDefaults: Readonly<Record<string, string | undefined>> = SETTINGS;

/** Values Azure only knows once resources exist; stand-ins with the right shape for loadConfig. */
const DEPLOY_TIME_VALUES: Readonly<Record<string, string>> = {
  PHI3_ENDPOINT: 'https://phi3-mini.eastus2.models.ai.azure.com',
  PHI3_API_KEY: 'value-the-key-vault-reference-resolves-to',
  WEBHOOK_SECRET: 'whsec_dmFsdWUtdGhlLXJlZmVyZW5jZS1yZXNvbHZlcy10bw==',
  COSMOS_ENDPOINT: 'https://cosmos-account.documents.azure.com:443/',
  AZURE_CLIENT_ID: '11111111-2222-3333-4444-555555555555',
  AzureWebJobsStorage__clientId: '11111111-2222-3333-4444-555555555555',
  AzureWebJobsStorage__accountName: 'staccount',
  APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=00000000-0000-0000-0000-000000000000',
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=11111111-2222-3333-4444-555555555555;Authorization=AAD',
};

/** The environment the app gets in Azure with every parameter at its default. */
function azureEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  const unknown: string[] = [];
  for (const setting of azure.values()) {
    if (typeof setting.value === 'string') env[setting.name] = setting.value;
    else if (DEPLOY_TIME_VALUES[setting.name] !== undefined) env[setting.name] = DEPLOY_TIME_VALUES[setting.name]!;
    else unknown.push(`${setting.name} = ${String(setting.value)}`);
  }
  expect(unknown, 'settings whose value the test cannot work out (add a stand-in to DEPLOY_TIME_VALUES)').toEqual([]);
  return env;
}

const unresolvedExpr = (value: Value): string | undefined =>
  value instanceof Unresolved ? `${value.file}#${value.expr}` : undefined;

describe('function app settings in Azure (infra/app/api.bicep + main.bicep)', () => {
  it('sets every setting the code reads, except the documented local-only ones', () => {
    const missing = SETTINGS_THE_CODE_READS.filter((name) => !(name in LOCAL_ONLY) && !azure.has(name));
    expect(missing).toEqual([]);
  });

  it('leaves out the local-only settings', () => {
    expect(Object.keys(LOCAL_ONLY).filter((name) => azure.has(name))).toEqual([]);
  });

  it('sets nothing that neither the code nor the platform reads', () => {
    const unused = [...azure.keys()].filter(
      (name) => !SETTINGS_THE_CODE_READS.includes(name) && !(name in PLATFORM_SETTINGS),
    );
    expect(unused).toEqual([]);
  });

  it('sets none of the settings Flex Consumption rejects', () => {
    expect(FLEX_CONSUMPTION_UNSUPPORTED.filter((name) => azure.has(name))).toEqual([]);
  });

  it('gives each setting the code default unless it is deploy-time or required', () => {
    const differing: string[] = [];
    for (const [name, fallback] of Object.entries(settingDefaults)) {
      const setting = azure.get(name);
      if (setting === undefined || setting.value instanceof Unresolved) continue;
      const value = setting.value;
      // An empty setting means "use the code's default" to src/config.ts.
      const expected = fallback ?? '';
      if (value !== expected)
        differing.push(`${name}: Bicep ${JSON.stringify(value)}, code ${JSON.stringify(expected)}`);
    }
    expect(differing).toEqual([]);
  });

  it('is accepted by the app: loadConfig reads the Azure settings into an identity-based configuration', () => {
    const config = loadConfig(azureEnvironment());
    expect(config.storage).toEqual({
      kind: 'identity',
      blobServiceUri: 'https://staccount.blob.core.windows.net',
      queueServiceUri: 'https://staccount.queue.core.windows.net',
      clientId: DEPLOY_TIME_VALUES['AzureWebJobsStorage__clientId'],
    });
    expect(config.cosmos.key).toBeUndefined();
    expect(config.cosmos.clientId).toBe(DEPLOY_TIME_VALUES['AZURE_CLIENT_ID']);
    expect(config.cosmos.caCertFile).toBeUndefined();
    expect(config.phi3.returnUnusedTokens).toBe(false);
  });

  it('connects to storage with the user-assigned identity, the same one Cosmos DB uses', () => {
    expect(azure.get('AzureWebJobsStorage__credential')?.value).toBe('managedidentity');
    const storageClient = unresolvedExpr(azure.get('AzureWebJobsStorage__clientId')!.value);
    const cosmosClient = unresolvedExpr(azure.get('AZURE_CLIENT_ID')!.value);
    expect(storageClient).toMatch(/identity\.bicep#\w+\.properties\.clientId$/);
    expect(cosmosClient).toBe(storageClient);
    expect(azure.has('AzureWebJobsStorage')).toBe(false);
  });

  it('names the storage account the infra creates in AzureWebJobsStorage__accountName', () => {
    const main = mainScope();
    const storageModule = main.file.modules.find((m) => m.symbol === 'storage');
    const created = evaluate(storageModule!.params.find((p) => p.key === 'name')!.expr, main);
    expect(unresolvedExpr(azure.get('AzureWebJobsStorage__accountName')!.value)).toBe(unresolvedExpr(created));
  });

  it('runs the app as that identity, including for Key Vault references', () => {
    const identityId = (expr: string | undefined): string | undefined =>
      expr === undefined ? undefined : unresolvedExpr(evaluate(expr, app.use.scope));
    const referenceIdentity = identityId(getPath(app.site.body, ['properties', 'keyVaultReferenceIdentity']));
    expect(referenceIdentity).toMatch(/identity\.bicep#\w+\.id$/);
    expect(getPath(app.site.body, ['identity', 'type'])).toBe("'UserAssigned'");
    const assigned = getPath(app.site.body, ['identity', 'userAssignedIdentities']) ?? '';
    const key = /'\$\{(\w+)\}'\s*:/.exec(assigned)?.[1];
    expect(identityId(key)).toBe(referenceIdentity);
  });

  it('reads PHI3_API_KEY through a Key Vault reference to the secret that holds the secure parameter', () => {
    const setting = azure.get('PHI3_API_KEY')!;
    const reference = /^'@Microsoft\.KeyVault\(SecretUri=\$\{(.+)\}\)'$/.exec(setting.expr);
    expect(reference, `PHI3_API_KEY = ${setting.expr}`).not.toBeNull();
    const uri = evaluate(reference![1]!, setting.scope);
    expect(uri).toBeInstanceOf(Unresolved);
    const { file, expr } = uri as Unresolved;
    const secretSymbol = /^(\w+)\.properties\.secretUri$/.exec(expr)?.[1];
    const vaultFile = mainScope().load(file);
    const secret = vaultFile.resources.find((r) => r.symbol === secretSymbol);
    expect(secret?.type).toBe('Microsoft.KeyVault/vaults/secrets');
    // The secret's value is main.bicep's @secure() parameter, fed from ${PHI3_API_KEY}.
    const keyVaultModule = mainScope().file.modules.find((m) => m.path === 'app/keyvault.bicep')!;
    const valueParam = getPath(secret!.body, ['properties', 'value'])!;
    const passed = keyVaultModule.params.find((p) => p.key === valueParam)!;
    const mainParam = mainScope().file.params.get(passed.expr);
    expect(mainParam?.secure).toBe(true);
    expect(mainParam?.defaultExpr).toBeUndefined();
    expect(parametersFile().parameters[passed.expr]?.value).toBe('${PHI3_API_KEY}');
  });

  it("adds the extra deployments' keys only as Key Vault references into the app's vault", () => {
    const main = mainScope();
    expect(app.dynamicSettings.length).toBeGreaterThan(0);
    for (const part of app.dynamicSettings) {
      expect(part.file).toBe(main.file.path);
      const built = trace(part.expr, main).expr;
      expect(built).toMatch(/^toObject\(/);
      expect(built).toContain("'@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/");
    }
    const vaultName = main.file.modules
      .find((m) => m.path === 'app/keyvault.bicep')
      ?.params.find((p) => p.key === 'name')?.expr;
    expect(main.file.vars.get('keyVaultUri')).toContain(`\${${vaultName}}`);
    expect(parametersFile().parameters['phi3ExtraKeySettings']?.value).toBe('${PHI3_EXTRA_KEY_SETTINGS=}');
  });

  it('sends telemetry with the identity', () => {
    const setting = azure.get('APPLICATIONINSIGHTS_AUTHENTICATION_STRING')!;
    const inner = /^'ClientId=\$\{(\w+)\};Authorization=AAD'$/.exec(setting.expr)?.[1];
    expect(inner, setting.expr).toBeDefined();
    expect(unresolvedExpr(evaluate(inner!, setting.scope))).toBe(unresolvedExpr(azure.get('AZURE_CLIENT_ID')!.value));
  });

  it('lets azd set each app setting parameter from the environment variable of the same name, with the same default', () => {
    const problems: string[] = [];
    const main = mainScope();
    for (const name of Object.keys(settingDefaults)) {
      const setting = azure.get(name);
      if (setting === undefined) continue;
      const param = mainParameterBehind(setting);
      if (param === undefined) continue; // computed from a resource (an endpoint, an identity, a reference)
      const entry = parametersFile().parameters[param];
      const reference = parseEnvReference(entry?.value);
      if (reference === undefined) {
        problems.push(`${name}: main.parameters.json does not set ${param} from \${${name}}`);
        continue;
      }
      if (reference.name !== name) problems.push(`${name}: ${param} comes from \${${reference.name}}`);
      const bicepDefault = main.file.params.get(param)?.defaultExpr;
      const defaultValue = bicepDefault === undefined ? undefined : String(evaluate(bicepDefault, main));
      if (reference.defaultValue !== defaultValue) {
        problems.push(
          `${name}: default ${JSON.stringify(reference.defaultValue)} in main.parameters.json, ${JSON.stringify(defaultValue)} in main.bicep`,
        );
      }
    }
    expect(problems).toEqual([]);
  });
});

/** The main.bicep parameter an app setting is made from (directly, through string(), or a bool ternary), if any. */
function mainParameterBehind(setting: AppSetting): string | undefined {
  const { expr, scope } = trace(setting.expr, setting.scope, { followDefaults: false });
  const inner = /^string\((\w+)\)$/.exec(expr)?.[1] ?? /^(\w+)\s*\?\s*'true'\s*:\s*'false'$/.exec(expr)?.[1] ?? expr;
  const traced = trace(inner, scope, { followDefaults: false });
  const isMain = traced.scope.file.path === mainScope().file.path;
  return isMain && traced.scope.file.params.has(traced.expr) ? traced.expr : undefined;
}

describe('local.settings.sample.json', () => {
  it('has every setting the code reads, except the documented Azure-only ones', () => {
    const missing = SETTINGS_THE_CODE_READS.filter((name) => !(name in AZURE_ONLY) && !(name in local));
    expect(missing).toEqual([]);
  });

  it('has nothing the code or the local host does not read', () => {
    const unused = Object.keys(local).filter(
      (name) => !SETTINGS_THE_CODE_READS.includes(name) && !(name in LOCAL_HOST_SETTINGS),
    );
    expect(unused).toEqual([]);
  });

  it('leaves out the Azure-only identity settings', () => {
    expect(Object.keys(AZURE_ONLY).filter((name) => name in local)).toEqual([]);
  });
});

describe('the exception lists', () => {
  it('name only settings the code reads, so they cannot go stale', () => {
    const stale = [...Object.keys(LOCAL_ONLY), ...Object.keys(AZURE_ONLY)].filter(
      (name) => !SETTINGS_THE_CODE_READS.includes(name),
    );
    expect(stale).toEqual([]);
  });

  it('cover everything src/config.ts reads outside SETTINGS', () => {
    const known = new Set([...SETTINGS_THE_CODE_READS, ...Object.keys(OPTIONAL_ALTERNATIVES)]);
    expect(directEnvReads().filter((name) => !known.has(name))).toEqual([]);
    expect(directEnvReads()).toEqual(
      expect.arrayContaining(['AzureWebJobsStorage__accountName', 'AzureWebJobsStorage__clientId']),
    );
  });

  it('keep the identity connection complete in Azure', () => {
    expect(STORAGE_IDENTITY_SETTINGS.filter((name) => !azure.has(name))).toEqual([]);
  });
});
