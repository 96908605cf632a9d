import { globalAgent } from 'node:https';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { runCli, type RunCliOptions } from '../../cli/runCli.js';
import { jobIdFor } from '../../src/core/jobId.js';
import { startInProcessBlobStorage, type InProcessBlobStorage } from './inProcessAzurite.js';
import { CapturingStream } from './streams.js';

const CONTENT = `${JSON.stringify({ custom_id: 'r1', method: 'POST', url: '/v1/chat/completions', body: { messages: [] } })}\n`;
const STORAGE_SCOPE = 'https://storage.azure.com/.default';
const TENANT = '72f988bf-0000-0000-0000-000000000000';

/**
 * What DefaultAzureCredential hands the storage SDK, as far as Azurite can tell: a JWT with the audience of the
 * scope asked for, a lifetime and an Entra ID issuer (Azurite's `--oauth basic` checks no signature).
 */
class FakeEntraCredential implements TokenCredential {
  readonly scopes: string[] = [];
  constructor(private readonly audienceOverride?: string) {}

  async getToken(scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken> {
    const scope = [scopes].flat()[0] ?? '';
    this.scopes.push(scope);
    const nowInSeconds = Math.floor(Date.now() / 1000);
    const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const claims = {
      aud: this.audienceOverride ?? scope.replace(/\/\.default$/, ''),
      iss: `https://sts.windows.net/${TENANT}/`,
      iat: nowInSeconds - 60,
      nbf: nowInSeconds - 60,
      exp: nowInSeconds + 3600,
      tid: TENANT,
      oid: '00000000-0000-0000-0000-0000000000aa',
    };
    const token = `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.${Buffer.from('not-checked').toString('base64url')}`;
    return { token, expiresOnTimestamp: (nowInSeconds + 3600) * 1000 };
  }
}

describe('submit signed in with Entra ID (account URL + token credential) against Azurite over HTTPS', () => {
  let storage: InProcessBlobStorage;
  let dir: string;
  let file: string;
  let container: ContainerClient;
  let containerName: string;
  let counter = 0;
  const previousCa = globalAgent.options.ca;
  // The storage SDK uses Node's global HTTPS agent when keep-alive is off: trust this run's certificate there.
  const storagePipeline = { keepAliveOptions: { enable: false } };

  beforeAll(async () => {
    storage = await startInProcessBlobStorage({ oauth: true });
    globalAgent.options.ca = storage.caCertPem;
    dir = await mkdtemp(join(tmpdir(), 'phi3-batch-entra-'));
    file = join(dir, 'prompts.jsonl');
    await writeFile(file, CONTENT);
  });
  afterAll(async () => {
    globalAgent.options.ca = previousCa;
    await storage?.close();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    counter += 1;
    containerName = `input-${process.pid}-${counter}`;
    container = BlobServiceClient.fromConnectionString(storage.connectionString, storagePipeline).getContainerClient(
      containerName,
    );
    await container.create();
  });

  async function submit(argv: string[], env: Record<string, string>, options: Partial<RunCliOptions> = {}) {
    const stdout = new CapturingStream();
    const stderr = new CapturingStream();
    const code = await runCli(['submit', ...argv], {
      stdout,
      stderr,
      env: { INPUT_CONTAINER: containerName, ...env },
      clock: { nowInMs: () => 0 },
      storagePipeline,
      ...options,
    });
    return { code, stdout: stdout.text, stderr: stderr.text };
  }

  test('--account-url: uploads with a bearer token for the storage audience, no key anywhere', async () => {
    const credential = new FakeEntraCredential();
    const { code, stdout, stderr } = await submit(['--account-url', storage.accountUrl, file], {}, { credential });
    expect(stderr).toContain(`to ${containerName}/prompts.jsonl`);
    expect(code).toBe(0);
    expect(credential.scopes).toContain(STORAGE_SCOPE);
    const properties = await container.getBlobClient('prompts.jsonl').getProperties();
    expect(stdout).toBe(`${jobIdFor(containerName, 'prompts.jsonl', properties.etag!)}\n`);
  });

  test('PHI3_BATCH_ACCOUNT_URL does the same from the environment', async () => {
    const credential = new FakeEntraCredential();
    const { code } = await submit([file], { PHI3_BATCH_ACCOUNT_URL: `${storage.accountUrl}/` }, { credential });
    expect(code).toBe(0);
    expect(await container.getBlobClient('prompts.jsonl').exists()).toBe(true);
  });

  test('the token is what lets it in: one for another audience is refused, and nothing is uploaded', async () => {
    const credential = new FakeEntraCredential('https://management.azure.com');
    const { code, stderr } = await submit(['--account-url', storage.accountUrl, file], {}, { credential });
    expect(code).toBe(1);
    expect(stderr).toContain('Not allowed to write');
    expect(await container.getBlobClient('prompts.jsonl').exists()).toBe(false);
  });

  test('the connection string still works, and wins over the account URL in the environment', async () => {
    const credential = new FakeEntraCredential();
    const env = { AzureWebJobsStorage: storage.connectionString, PHI3_BATCH_ACCOUNT_URL: storage.accountUrl };
    const { code } = await submit([file], env, { credential });
    expect(code).toBe(0);
    expect(credential.scopes).toEqual([]);
    expect(await container.getBlobClient('prompts.jsonl').exists()).toBe(true);
  });

  test('an account URL that is not https, or carries a SAS, is refused before anything is sent', async () => {
    const plain = await submit(['--account-url', 'http://127.0.0.1:1/devstoreaccount1', file], {});
    expect(plain.code).not.toBe(0);
    expect(plain.stderr).toContain('--account-url: expected an https URL');
    const sas = await submit([file], { PHI3_BATCH_ACCOUNT_URL: `${storage.accountUrl}?sv=2024&sig=secret` });
    expect(sas.code).not.toBe(0);
    expect(sas.stderr).toContain('PHI3_BATCH_ACCOUNT_URL: expected an https URL');
    expect(sas.stderr).not.toContain('secret');
  });

  test('--account-url and --connection-string together is an error', async () => {
    const { code, stderr } = await submit(
      ['--account-url', storage.accountUrl, '--connection-string', storage.connectionString, file],
      {},
    );
    expect(code).not.toBe(0);
    expect(stderr).toContain('not both');
  });
});
