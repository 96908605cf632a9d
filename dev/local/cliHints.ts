import { DEFAULT_API_URL } from '../../cli/apiClient.js';
import { CliSetting } from '../../cli/cliSettings.js';

export interface CliHintOptions {
  /** The running stack's storage connection string (with its real blob and queue endpoints). */
  readonly storageConnectionString: string;
  /** Whether blob and queue listen on Azurite's usual ports (10000, 10001): then the short form works. */
  readonly defaultStoragePorts: boolean;
  /** Where the local functions host serves the API. */
  readonly apiUrl: string;
  /** A function key is required (LOCAL_FUNCTION_KEY is set): the CLI needs it too. */
  readonly functionKeyRequired: boolean;
}

/**
 * The lines that tell a user how to point the CLI at this stack. On moved ports the CLI's defaults
 * (UseDevelopmentStorage=true, http://127.0.0.1:7071/api) would reach nothing, or someone else's stack.
 */
export function cliHints(options: CliHintOptions): string[] {
  const storage = options.defaultStoragePorts ? 'UseDevelopmentStorage=true' : `'${options.storageConnectionString}'`;
  const lines = [`  export ${CliSetting.storage}=${storage}   # the CLI talks to the local Azurite`];
  if (options.apiUrl.replace(/\/+$/, '') !== DEFAULT_API_URL) {
    lines.push(`  export ${CliSetting.apiUrl}=${options.apiUrl}   # the local functions host`);
  }
  if (options.functionKeyRequired) lines.push(`  export ${CliSetting.functionKey}=<the LOCAL_FUNCTION_KEY you set>`);
  lines.push(
    '  npx phi3-batch submit your-file.jsonl --watch            # drop your own file (OpenAI Batch lines or bare chat bodies)',
    '  npx phi3-batch status                                    # recent jobs',
  );
  return lines;
}
