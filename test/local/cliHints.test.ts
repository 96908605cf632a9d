import { describe, expect, it } from 'vitest';
import { readApiSettings } from '../../cli/cliSettings.js';
import { cliHints } from '../../dev/local/cliHints.js';

const moved =
  'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:20000/devstoreaccount1;QueueEndpoint=http://127.0.0.1:20001/devstoreaccount1;';

/** What `export NAME=value` lines would set in a shell (single quotes taken off). */
function exported(lines: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of lines) {
    const match = /^\s*export (\w+)=(\S+)/.exec(line);
    if (match !== null) env[match[1]!] = match[2]!.replace(/^'(.*)'$/, '$1');
  }
  return env;
}

describe('the npm start banner CLI hint', () => {
  it('on the usual ports keeps the short forms', () => {
    const env = exported(
      cliHints({
        storageConnectionString: 'x',
        defaultStoragePorts: true,
        apiUrl: 'http://127.0.0.1:7071/api',
        functionKeyRequired: false,
      }),
    );
    expect(env).toEqual({ AzureWebJobsStorage: 'UseDevelopmentStorage=true' });
  });

  it('on moved ports points the CLI at this stack: its storage endpoints and its API', () => {
    const lines = cliHints({
      storageConnectionString: moved,
      defaultStoragePorts: false,
      apiUrl: 'http://127.0.0.1:17071/api',
      functionKeyRequired: true,
    });
    const env = exported(lines);
    expect(env['AzureWebJobsStorage']).toBe(moved);
    expect(readApiSettings(env).apiUrl).toBe('http://127.0.0.1:17071/api');
    expect(lines.join('\n')).toContain('PHI3_BATCH_FUNCTION_KEY=<the LOCAL_FUNCTION_KEY you set>');
  });
});
