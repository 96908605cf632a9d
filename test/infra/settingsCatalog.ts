/**
 * Which settings belong where: every setting the code reads, and the documented exceptions to
 * "the same settings in Azure and locally". Each exception says why.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SETTINGS } from '../../src/config.js';
import { repoRoot } from './infraModel.js';

/**
 * The identity form of the Functions storage connection. src/config.ts reads `__accountName` and
 * `__clientId` when `AzureWebJobsStorage` is absent; the Functions host reads all three.
 */
export const STORAGE_IDENTITY_SETTINGS = [
  'AzureWebJobsStorage__accountName',
  'AzureWebJobsStorage__credential',
  'AzureWebJobsStorage__clientId',
] as const;

/** Every setting the app needs, in Azure or locally (before exceptions). */
export const SETTINGS_THE_CODE_READS: readonly string[] = [
  ...new Set([...Object.keys(SETTINGS), ...STORAGE_IDENTITY_SETTINGS, 'AZURE_CLIENT_ID']),
];

/** Read by the code, deliberately not set in Azure. */
export const LOCAL_ONLY: Readonly<Record<string, string>> = {
  AzureWebJobsStorage:
    'the connection-string form: the storage account allows no shared keys, so Azure uses the identity form (AzureWebJobsStorage__*)',
  COSMOS_KEY:
    'the Cosmos DB account has local (key) auth disabled; in Azure the app uses its identity (AZURE_CLIENT_ID)',
  COSMOS_CA_CERT_FILE:
    "the local Cosmos stand-in's self-signed CA; Azure's endpoint has a publicly trusted certificate",
};

/** Read by the code (or host) in Azure, deliberately not in local.settings.sample.json. */
export const AZURE_ONLY: Readonly<Record<string, string>> = {
  AzureWebJobsStorage__accountName:
    'locally the storage emulator is reached with the AzureWebJobsStorage connection string',
  AzureWebJobsStorage__credential:
    'locally the storage emulator is reached with the AzureWebJobsStorage connection string',
  AzureWebJobsStorage__clientId:
    'locally the storage emulator is reached with the AzureWebJobsStorage connection string',
};

/**
 * Settings src/config.ts reads through `env[...]` that need not be set anywhere: the alternative
 * identity form (service URIs instead of an account name), for accounts on custom endpoints.
 */
export const OPTIONAL_ALTERNATIVES: Readonly<Record<string, string>> = {
  AzureWebJobsStorage__blobServiceUri: 'alternative to AzureWebJobsStorage__accountName',
  AzureWebJobsStorage__queueServiceUri: 'alternative to AzureWebJobsStorage__accountName',
};

/** App settings in Azure that only the platform reads. */
export const PLATFORM_SETTINGS: Readonly<Record<string, string>> = {
  APPLICATIONINSIGHTS_CONNECTION_STRING:
    'where the host sends telemetry, and the app its metrics (read by the composition root, not src/config.ts)',
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'telemetry sent with the identity (the component has local auth disabled)',
};

/** Keys in local.settings.sample.json that only the (local) Functions host reads. */
export const LOCAL_HOST_SETTINGS: Readonly<Record<string, string>> = {
  FUNCTIONS_WORKER_RUNTIME: 'the worker language for the local host',
};

/**
 * Settings Flex Consumption rejects or ignores: the runtime and its version live in
 * functionAppConfig, the package in the deployment container.
 */
export const FLEX_CONSUMPTION_UNSUPPORTED = [
  'FUNCTIONS_EXTENSION_VERSION',
  'FUNCTIONS_WORKER_RUNTIME',
  'FUNCTIONS_WORKER_RUNTIME_VERSION',
  'WEBSITE_NODE_DEFAULT_VERSION',
  'WEBSITE_RUN_FROM_PACKAGE',
  'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
  'WEBSITE_CONTENTSHARE',
  'WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT',
  'SCM_DO_BUILD_DURING_DEPLOYMENT',
  'ENABLE_ORYX_BUILD',
] as const;

export function localSampleValues(): Record<string, string> {
  const text = readFileSync(join(repoRoot, 'local.settings.sample.json'), 'utf8');
  const parsed = JSON.parse(text) as { Values?: Record<string, string> };
  return parsed.Values ?? {};
}

/** Names src/config.ts reads directly from the environment (outside SETTINGS). */
export function directEnvReads(): string[] {
  const text = readFileSync(join(repoRoot, 'src/config.ts'), 'utf8');
  return [...new Set([...text.matchAll(/env\[\s*'([A-Za-z0-9_]+)'\s*\]/g)].map((m) => m[1]!))];
}
