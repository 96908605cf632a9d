import { LocalHostError, LocalHostErrorCode } from './errors.js';

export type AppSettings = Readonly<Record<string, string | undefined>>;

export interface BindingContext {
  readonly functionName: string;
  /** The binding property being resolved, for error messages (`queueName`, `path`, ...). */
  readonly property: string;
}

/** Resolves `%SETTING%` references the way Functions does; `%%` is not special. Unknown settings fail loudly. */
export function resolveAppSettingReferences(value: string, settings: AppSettings, context: BindingContext): string {
  return value.replace(/%([^%]+)%/g, (_whole, name: string) => {
    const resolved = settings[name];
    if (resolved === undefined) {
      throw new LocalHostError(
        LocalHostErrorCode.UnknownAppSetting,
        `Function "${context.functionName}": binding property "${context.property}" references app setting "${name}", which is not set.`,
      );
    }
    return resolved;
  });
}

export const defaultStorageConnectionName = 'AzureWebJobsStorage';

export type StorageService = 'blob' | 'queue';

export type StorageEndpoint =
  | { readonly kind: 'connectionString'; readonly connectionString: string }
  /** An identity-style `<CONN>__blobServiceUri` / `__queueServiceUri`; locally used as is (a SAS may ride on it). */
  | { readonly kind: 'serviceUri'; readonly serviceUri: string };

/**
 * Finds the storage endpoint a binding's `connection` names: the setting itself, then `AzureWebJobs<name>`,
 * then `<name>__<service>ServiceUri`. Throws naming the function and what was looked for.
 */
export function resolveStorageConnection(
  connection: string | undefined,
  service: StorageService,
  settings: AppSettings,
  functionName: string,
): StorageEndpoint {
  const name = connection === undefined || connection === '' ? defaultStorageConnectionName : connection;
  const candidates = name === defaultStorageConnectionName ? [name] : [name, `AzureWebJobs${name}`];
  for (const candidate of candidates) {
    const value = settings[candidate];
    if (value !== undefined && value !== '') {
      return { kind: 'connectionString', connectionString: value };
    }
  }
  const uriSetting = `${name}__${service}ServiceUri`;
  const uri = settings[uriSetting] ?? settings[`${name}:${service}ServiceUri`];
  if (uri !== undefined && uri !== '') {
    return { kind: 'serviceUri', serviceUri: uri };
  }
  throw new LocalHostError(
    LocalHostErrorCode.MissingConnection,
    `Function "${functionName}": storage connection "${name}" is not configured. Set app setting "${candidates.join('" or "')}" ` +
      `to a connection string, or "${uriSetting}" to a ${service} service URI.`,
  );
}
