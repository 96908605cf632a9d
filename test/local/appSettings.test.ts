import { describe, expect, test } from 'vitest';
import { resolveAppSettingReferences, resolveStorageConnection } from '../../dev/local/host/appSettings.js';
import { parseStorageConnectionString } from '../../dev/local/host/storageClients.js';

describe('binding expressions', () => {
  test('%SETTING% references resolve from the app settings', () => {
    const settings = { INPUT: 'uploads', ENV: 'dev' };
    expect(resolveAppSettingReferences('%INPUT%/{name}', settings, { functionName: 'f', property: 'path' })).toBe(
      'uploads/{name}',
    );
    expect(
      resolveAppSettingReferences('jobs-%ENV%-%INPUT%', settings, { functionName: 'f', property: 'queueName' }),
    ).toBe('jobs-dev-uploads');
    expect(() =>
      resolveAppSettingReferences('%MISSING%', settings, { functionName: 'f', property: 'queueName' }),
    ).toThrow('Function "f": binding property "queueName" references app setting "MISSING", which is not set.');
  });
});

describe('storage connections', () => {
  test('the setting itself, then AzureWebJobs<name>, then <name>__<service>ServiceUri', () => {
    expect(resolveStorageConnection(undefined, 'queue', { AzureWebJobsStorage: 'cs' }, 'f')).toEqual({
      kind: 'connectionString',
      connectionString: 'cs',
    });
    expect(resolveStorageConnection('Other', 'blob', { AzureWebJobsOther: 'cs2' }, 'f')).toEqual({
      kind: 'connectionString',
      connectionString: 'cs2',
    });
    expect(
      resolveStorageConnection('Other', 'blob', { Other__blobServiceUri: 'http://127.0.0.1:1/acct' }, 'f'),
    ).toEqual({
      kind: 'serviceUri',
      serviceUri: 'http://127.0.0.1:1/acct',
    });
    expect(() => resolveStorageConnection('Other', 'queue', {}, 'f')).toThrow(
      /Function "f".*"Other".*Other__queueServiceUri/,
    );
  });

  test('connection strings: explicit endpoints, account + suffix, SAS, development storage', () => {
    expect(
      parseStorageConnectionString(
        'DefaultEndpointsProtocol=http;AccountName=a;AccountKey=k==;QueueEndpoint=http://127.0.0.1:5/a/;',
        'queue',
      ),
    ).toEqual({ url: 'http://127.0.0.1:5/a', accountName: 'a', accountKey: 'k==' });
    expect(parseStorageConnectionString('AccountName=a;AccountKey=k;EndpointSuffix=example.net', 'blob').url).toBe(
      'https://a.blob.example.net',
    );
    expect(
      parseStorageConnectionString('BlobEndpoint=http://127.0.0.1:5/a;SharedAccessSignature=sv=1&sig=x', 'blob'),
    ).toEqual({
      url: 'http://127.0.0.1:5/a?sv=1&sig=x',
      accountName: undefined,
      accountKey: undefined,
    });
    expect(parseStorageConnectionString('UseDevelopmentStorage=true', 'queue').url).toBe(
      'http://127.0.0.1:10001/devstoreaccount1',
    );
    expect(() => parseStorageConnectionString('AccountName=a', 'blob')).toThrow(/AccountKey or SharedAccessSignature/);
  });
});
