import { ConfigError } from '../src/core/errors.js';
import { DEFAULT_API_URL } from './apiClient.js';

export type CliEnv = Readonly<Record<string, string | undefined>>;

/** Setting names shared with the functions app, plus the CLI's own. */
export const CliSetting = {
  storage: 'AzureWebJobsStorage',
  inputContainer: 'INPUT_CONTAINER',
  apiUrl: 'PHI3_BATCH_API_URL',
  functionKey: 'PHI3_BATCH_FUNCTION_KEY',
} as const;

export const DEFAULT_INPUT_CONTAINER = 'batch-input';

export interface ApiSettings {
  readonly apiUrl: string;
  readonly functionKey: string | undefined;
}

export interface StorageSettings {
  readonly connectionString: string;
  /** Where the connection string came from, for messages about it. */
  readonly connectionStringSetting: string;
  readonly inputContainer: string;
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
    throw new ConfigError(setting, `an http(s) URL without credentials or query (put the function key in ${CliSetting.functionKey})`, redactUrl(parsed));
  }
  return { apiUrl: apiUrl.replace(/\/+$/, ''), functionKey: read(env, CliSetting.functionKey) };
}

/** Storage for uploads: a connection string only (the CLI runs as a person, not as the app's identity). */
export function readStorageSettings(env: CliEnv, overrides: { connectionString?: string | undefined } = {}): StorageSettings {
  const fromOption = overrides.connectionString?.trim();
  const setting = fromOption !== undefined && fromOption !== '' ? '--connection-string' : CliSetting.storage;
  const connectionString = fromOption !== undefined && fromOption !== '' ? fromOption : read(env, CliSetting.storage);
  if (connectionString === undefined) {
    const identity = read(env, `${CliSetting.storage}__accountName`) !== undefined || read(env, `${CliSetting.storage}__blobServiceUri`) !== undefined;
    throw new ConfigError(
      CliSetting.storage,
      identity
        ? 'a storage connection string (identity-based AzureWebJobsStorage__* settings are for the functions app, not the CLI)'
        : 'a storage connection string, e.g. UseDevelopmentStorage=true for Azurite',
    );
  }
  if (!looksLikeConnectionString(connectionString)) {
    throw new ConfigError(setting, 'a storage connection string of Key=Value pairs with AccountName and AccountKey, a BlobEndpoint, or UseDevelopmentStorage=true', maskConnectionString(connectionString));
  }
  const inputContainer = read(env, CliSetting.inputContainer) ?? DEFAULT_INPUT_CONTAINER;
  // Same rule as the functions app: lowercase letters, digits and single hyphens, 3-63 characters.
  if (!/^[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]$/.test(inputContainer)) {
    throw new ConfigError(CliSetting.inputContainer, 'a lowercase container name of 3-63 letters, digits and single hyphens', inputContainer);
  }
  return { connectionString, connectionStringSetting: setting, inputContainer };
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
