import { ConfigError } from '../src/core/errors.js';
import { DEFAULT_API_URL } from './apiClient.js';

export type CliEnv = Readonly<Record<string, string | undefined>>;

/** Setting names shared with the functions app, plus the CLI's own. */
export const CliSetting = {
  storage: 'AzureWebJobsStorage',
  inputContainer: 'INPUT_CONTAINER',
  apiUrl: 'PHI3_BATCH_API_URL',
  functionKey: 'PHI3_BATCH_FUNCTION_KEY',
  /** The storage account's blob endpoint, for uploads signed in with Entra ID (no key). */
  accountUrl: 'PHI3_BATCH_ACCOUNT_URL',
} as const;

export const DEFAULT_INPUT_CONTAINER = 'batch-input';

export interface ApiSettings {
  readonly apiUrl: string;
  readonly functionKey: string | undefined;
}

/** Storage for uploads: a connection string, or an account URL and the user's Entra ID sign-in. */
export type StorageSettings = ConnectionStringStorage | AccountUrlStorage;

export interface ConnectionStringStorage {
  readonly kind: 'connectionString';
  readonly connectionString: string;
  /** Where the connection string came from, for messages about it. */
  readonly connectionStringSetting: string;
  readonly inputContainer: string;
}

export interface AccountUrlStorage {
  readonly kind: 'accountUrl';
  /** The blob endpoint, e.g. https://<account>.blob.core.windows.net, without a trailing slash. */
  readonly accountUrl: string;
  /** Where the URL came from, for messages about it. */
  readonly accountUrlSetting: string;
  readonly inputContainer: string;
}

export interface StorageOverrides {
  readonly connectionString?: string | undefined;
  readonly accountUrl?: string | undefined;
}

function read(env: CliEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/** The API's address and key; an explicit option wins over the environment. */
export function readApiSettings(env: CliEnv, overrides: { apiUrl?: string | undefined } = {}): ApiSettings {
  const fromOption = overrides.apiUrl?.trim();
  const setting = fromOption !== undefined ? '--api-url' : CliSetting.apiUrl;
  const apiUrl = fromOption ?? read(env, CliSetting.apiUrl) ?? DEFAULT_API_URL;
  let parsed: URL;
  try {
    parsed = new URL(apiUrl);
  } catch {
    throw new ConfigError(setting, 'an http(s) URL such as http://127.0.0.1:7071/api', apiUrl);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError(setting, 'an http(s) URL such as http://127.0.0.1:7071/api', apiUrl);
  }
  if (parsed.username !== '' || parsed.password !== '' || parsed.search !== '') {
    // A key in the URL would end up in error messages; it belongs in PHI3_BATCH_FUNCTION_KEY.
    throw new ConfigError(
      setting,
      `an http(s) URL without credentials or query (put the function key in ${CliSetting.functionKey})`,
      redactUrl(parsed),
    );
  }
  return { apiUrl: apiUrl.replace(/\/+$/, ''), functionKey: read(env, CliSetting.functionKey) };
}

/**
 * Storage for uploads. An option wins over the environment, and the connection string over the account URL:
 * `--connection-string`, `--account-url`, then `AzureWebJobsStorage`, then `PHI3_BATCH_ACCOUNT_URL`. With an
 * account URL the CLI signs in as the user (DefaultAzureCredential: `az login`, `azd auth login`, environment).
 */
export function readStorageSettings(env: CliEnv, overrides: StorageOverrides = {}): StorageSettings {
  const connectionOption = nonEmpty(overrides.connectionString);
  const accountUrlOption = nonEmpty(overrides.accountUrl);
  if (connectionOption !== undefined && accountUrlOption !== undefined) {
    throw new ConfigError('--account-url', 'either --account-url or --connection-string, not both', accountUrlOption);
  }
  const inputContainer = readInputContainer(env);
  if (connectionOption !== undefined)
    return connectionStringStorage(connectionOption, '--connection-string', inputContainer);
  if (accountUrlOption !== undefined) return accountUrlStorage(accountUrlOption, '--account-url', inputContainer);
  const connectionString = read(env, CliSetting.storage);
  if (connectionString !== undefined)
    return connectionStringStorage(connectionString, CliSetting.storage, inputContainer);
  const accountUrl = read(env, CliSetting.accountUrl);
  if (accountUrl !== undefined) return accountUrlStorage(accountUrl, CliSetting.accountUrl, inputContainer);
  const identity =
    read(env, `${CliSetting.storage}__accountName`) !== undefined ||
    read(env, `${CliSetting.storage}__blobServiceUri`) !== undefined;
  const signIn = `or the account URL (https://<account>.blob.core.windows.net) in ${CliSetting.accountUrl} or --account-url to sign in with Entra ID`;
  throw new ConfigError(
    CliSetting.storage,
    identity
      ? `a storage connection string (identity-based AzureWebJobsStorage__* settings are for the functions app, not the CLI), ${signIn}`
      : `a storage connection string, e.g. UseDevelopmentStorage=true for Azurite, ${signIn}`,
  );
}

function accountUrlStorage(value: string, setting: string, inputContainer: string): AccountUrlStorage {
  return {
    kind: 'accountUrl',
    accountUrl: parseAccountUrl(value, setting),
    accountUrlSetting: setting,
    inputContainer,
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}

function connectionStringStorage(
  connectionString: string,
  setting: string,
  inputContainer: string,
): ConnectionStringStorage {
  if (!looksLikeConnectionString(connectionString)) {
    throw new ConfigError(
      setting,
      'a storage connection string of Key=Value pairs with AccountName and AccountKey, a BlobEndpoint, or UseDevelopmentStorage=true',
      maskConnectionString(connectionString),
    );
  }
  return { kind: 'connectionString', connectionString, connectionStringSetting: setting, inputContainer };
}

const ACCOUNT_URL_EXPECTED = 'an https URL of the blob endpoint, such as https://<account>.blob.core.windows.net';

/** Tokens travel only over TLS (the SDK refuses otherwise), and a SAS or user name has no place here. */
function parseAccountUrl(value: string, setting: string): string {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(setting, ACCOUNT_URL_EXPECTED, value);
  }
  if (parsed.protocol !== 'https:') throw new ConfigError(setting, ACCOUNT_URL_EXPECTED, redactUrl(parsed));
  if (parsed.username !== '' || parsed.password !== '' || parsed.search !== '' || parsed.hash !== '') {
    throw new ConfigError(setting, `${ACCOUNT_URL_EXPECTED}, without credentials, query or SAS`, redactUrl(parsed));
  }
  return parsed.href.replace(/\/+$/, '');
}

function readInputContainer(env: CliEnv): string {
  const inputContainer = read(env, CliSetting.inputContainer) ?? DEFAULT_INPUT_CONTAINER;
  // Same rule as the functions app: lowercase letters, digits and single hyphens, 3-63 characters.
  if (!/^[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]$/.test(inputContainer)) {
    throw new ConfigError(
      CliSetting.inputContainer,
      'a lowercase container name of 3-63 letters, digits and single hyphens',
      inputContainer,
    );
  }
  return inputContainer;
}

function looksLikeConnectionString(value: string): boolean {
  if (/^UseDevelopmentStorage=true;?/i.test(value)) return true;
  const keys = new Set(
    value
      .split(';')
      .filter((part) => part.trim() !== '')
      .map((part) => part.slice(0, part.indexOf('=')).trim().toLowerCase()),
  );
  if (value.split(';').some((part) => part.trim() !== '' && !part.includes('='))) return false;
  return (keys.has('accountname') && keys.has('accountkey')) || keys.has('blobendpoint');
}

/** Hides the secrets of a connection string (account key, SAS) so it can be shown. */
export function maskConnectionString(value: string): string {
  return value
    .replace(/((?:^|;)\s*(?:AccountKey|SharedAccessSignature|SharedAccessKey)\s*=)[^;]*/gi, '$1***')
    .replace(/([?&]sig=)[^&;]*/gi, '$1***');
}

function redactUrl(url: URL): string {
  const copy = new URL(url.href);
  if (copy.username !== '') copy.username = '***';
  if (copy.password !== '') copy.password = '***';
  if (copy.search !== '') copy.search = '?***';
  return copy.href;
}
