import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli, type RunCliOptions } from '../../cli/runCli.js';
import { FakeJobsApi, outputLine } from './fakeJobsApi.js';
import { batchObject, JOB_ID, stages, T0_IN_MS } from './fixtures.js';
import { CapturingStream } from './streams.js';

let api: FakeJobsApi;
let dir: string;

beforeAll(async () => {
  api = await FakeJobsApi.start();
  dir = await mkdtemp(join(tmpdir(), 'phi3-batch-cli-'));
});
afterAll(async () => {
  await api.close();
  await rm(dir, { recursive: true, force: true });
});

async function cli(argv: string[], options: Partial<RunCliOptions> & { env?: Record<string, string> } = {}) {
  const stdout = new CapturingStream();
  const stderr = new CapturingStream();
  const code = await runCli(argv, {
    stdout,
    stderr,
    clock: { nowInMs: () => T0_IN_MS + 60_000 },
    ...options,
    env: { PHI3_BATCH_API_URL: api.baseUrl, ...options.env },
  });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe('status filters, cancel and retry', () => {
  test('status --status and --metadata ask the API for only those jobs', async () => {
    api.listed = [stages.completed(1000, 7)];
    const { code } = await cli([
      'status',
      '--status',
      'in_progress',
      '--metadata',
      'team=search',
      '--metadata',
      'run=a=b',
    ]);
    expect(code).toBe(0);
    const asked = new URL(api.requests.at(-1)!.url, 'http://x').searchParams;
    expect(asked.get('status')).toBe('in_progress');
    expect(asked.get('metadata[team]')).toBe('search');
    expect(asked.get('metadata[run]')).toBe('a=b');
  });

  test('status --status refuses a status that does not exist, --metadata a pair without =', async () => {
    expect((await cli(['status', '--status', 'running'])).code).toBe(2);
    expect((await cli(['status', '--metadata', 'team'])).code).toBe(2);
  });

  test('priority patches the job with the level or weight, checked before any request', async () => {
    api.setJob(stages.running(10, 3));
    expect(await cli(['priority', JOB_ID, 'HIGH'])).toMatchObject({ code: 0, stdout: `${JOB_ID} priority high\n` });
    expect(api.requests.at(-1)).toMatchObject({
      method: 'PATCH',
      url: `/api/jobs/${JOB_ID}`,
      body: '{"priority":"high"}',
    });
    expect((await cli(['priority', JOB_ID, '40'])).stdout).toBe(`${JOB_ID} priority 40\n`);

    const asked = api.requests.length;
    const refused = await cli(['priority', JOB_ID, 'urgent']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      'priority "urgent" is not high, normal, low or a whole-number weight from 1 to 100',
    );
    expect(api.requests.length).toBe(asked);
  });

  test('priority of a finished or unknown job fails with the API’s reason', async () => {
    api.setJob(stages.completed(10));
    const finished = await cli(['priority', JOB_ID, 'low']);
    expect(finished.code).toBe(1);
    expect(finished.stderr).toContain('is completed');
    expect((await cli(['priority', `job_${'e'.repeat(32)}`, 'low'])).code).toBe(1);
  });

  test('cancel and retry post to the job and say what happened', async () => {
    api.setJob(stages.completed(1000, 7));
    const cancelled = await cli(['cancel', JOB_ID]);
    expect(cancelled).toMatchObject({ code: 0, stdout: `${JOB_ID} cancelling\n` });
    expect(api.requests.at(-1)).toMatchObject({ method: 'POST', url: `/api/jobs/${JOB_ID}/cancel` });
    const retried = await cli(['retry', JOB_ID, '--retryable-only']);
    expect(retried).toMatchObject({ code: 0, stdout: `${JOB_ID}: 1 line(s) sent again; in_progress\n` });
    expect(api.requests.at(-1)).toMatchObject({ method: 'POST', url: `/api/jobs/${JOB_ID}/retry?retryable_only=true` });
    expect((await cli(['cancel', `job_${'d'.repeat(32)}`])).code).toBe(1);
  });
});

describe('status', () => {
  test('without an id: a table of recent jobs', async () => {
    api.listed = [stages.completed(1000, 7), batchObject((j) => j, `job_${'b'.repeat(32)}`)];
    const { code, stdout, stderr } = await cli(['status']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout.split('\n')).toEqual([
      'ID                                    STATUS      PRIORITY  DONE/TOTAL   TOKENS IN/OUT  COST     CREATED',
      `${JOB_ID}  completed   normal    1,000/1,000  12.3k/6.79k    $0.0051  2025-01-02 10:00:00Z`,
      `job_${'b'.repeat(32)}  validating  normal    0/0+         0/0            $0.00    2025-01-02 10:00:00Z`,
      '',
    ]);
    expect(api.requests.at(-1)?.url).toBe('/api/jobs?limit=20');
  });

  test('--limit, and a note when there are more', async () => {
    api.listed = [stages.completed(3), stages.completed(3)];
    const { code, stdout, stderr } = await cli(['status', '--limit', '1']);
    expect(code).toBe(0);
    expect(stdout.trim().split('\n')).toHaveLength(2);
    expect(stderr).toContain('showing the 1 most recent');
  });

  test('one job: the summary; --json: the raw object', async () => {
    api.setJob(stages.running(100, 30));
    const summary = await cli(['status', JOB_ID]);
    expect(summary.code).toBe(0);
    expect(summary.stdout).toMatch(/^job_a{32}\n {2}Status +in_progress \(30%\)\n/);
    expect(summary.stdout).toMatch(/Duration +1m 00s so far/);

    const json = await cli(['status', JOB_ID, '--json']);
    expect(JSON.parse(json.stdout)).toEqual(stages.running(100, 30));
  });

  test('an unknown job: exit 1 with a clear message', async () => {
    const { code, stderr } = await cli(['status', `job_${'c'.repeat(32)}`]);
    expect(code).toBe(1);
    expect(stderr).toContain(`phi3-batch: No job job_${'c'.repeat(32)}`);
  });

  test('something that is not a job id: exit 2, no request', async () => {
    const before = api.requests.length;
    const { code, stderr } = await cli(['status', 'job_123']);
    expect(code).toBe(2);
    expect(stderr).toContain('"job_123" is not a job id');
    expect(api.requests.length).toBe(before);
  });
});

describe('results', () => {
  const lines = [outputLine('r1', true), outputLine('r2', false), outputLine('r3', true)];

  test('to stdout, succeeded lines by default', async () => {
    api.results.set(JOB_ID, { status: 'completed', lines });
    const { code, stdout, stderr } = await cli(['results', JOB_ID]);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toBe(`${JSON.stringify(lines[0])}\n${JSON.stringify(lines[2])}\n`);
  });

  test('--errors to a file', async () => {
    api.results.set(JOB_ID, { status: 'completed', lines });
    const file = join(dir, 'errors.jsonl');
    const { code, stdout, stderr } = await cli(['results', JOB_ID, '--errors', '--output', file]);
    expect(code).toBe(0);
    expect(stdout).toBe('');
    expect(stderr).toBe(`Wrote 1 error lines to ${file}\n`);
    expect(await readFile(file, 'utf8')).toBe(`${JSON.stringify(lines[1])}\n`);
    expect((await readdir(dir)).filter((name) => name.includes('.partial'))).toEqual([]);
  });

  test('--all of a running job: every line so far, and a note that they are partial', async () => {
    api.results.set(JOB_ID, { status: 'in_progress', lines });
    const file = join(dir, 'all.jsonl');
    const { code, stderr } = await cli(['results', JOB_ID, '--all', '--output', file]);
    expect(code).toBe(0);
    expect(stderr).toContain(`Note: job ${JOB_ID} is in_progress; these results are partial.`);
    expect((await readFile(file, 'utf8')).trim().split('\n')).toHaveLength(3);
  });

  test('--errors with --all: exit 2', async () => {
    const { code, stderr } = await cli(['results', JOB_ID, '--errors', '--all']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/cannot be used with/);
  });

  test('an unknown job leaves no file behind', async () => {
    const file = join(dir, 'none.jsonl');
    const { code, stderr } = await cli(['results', `job_${'d'.repeat(32)}`, '--output', file]);
    expect(code).toBe(1);
    expect(stderr).toContain('No job');
    expect(await readdir(dir)).not.toContain('none.jsonl');
  });
});

describe('settings and usage', () => {
  test('a malformed API URL: exit 2 naming the setting', async () => {
    const { code, stderr } = await cli(['status'], { env: { PHI3_BATCH_API_URL: 'localhost:7071' } });
    expect(code).toBe(2);
    expect(stderr).toContain('Setting PHI3_BATCH_API_URL: expected an http(s) URL');
  });

  test('--api-url wins over the environment, and is named when wrong', async () => {
    const good = await cli(['--api-url', api.baseUrl, 'status', JOB_ID], {
      env: { PHI3_BATCH_API_URL: 'http://127.0.0.1:1/api' },
    });
    expect(good.code).toBe(0);
    const bad = await cli(['--api-url', 'ftp://x', 'status']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Setting --api-url');
  });

  test('the function key from PHI3_BATCH_FUNCTION_KEY is sent', async () => {
    await cli(['status', JOB_ID], { env: { PHI3_BATCH_FUNCTION_KEY: 'the-key' } });
    expect(api.requests.at(-1)?.headers['x-functions-key']).toBe('the-key');
  });

  test('an API that is not running: exit 1 with a hint', async () => {
    const closed = await FakeJobsApi.start();
    const url = closed.baseUrl;
    await closed.close();
    const { code, stderr } = await cli(['status'], { env: { PHI3_BATCH_API_URL: url } });
    expect(code).toBe(1);
    expect(stderr).toContain(`Cannot reach the API at ${url}`);
    expect(stderr).toContain('Is the functions host running?');
  });

  test('submit without storage settings: exit 2 naming AzureWebJobsStorage', async () => {
    const { code, stderr } = await cli(['submit', join(dir, 'x.jsonl')]);
    expect(code).toBe(2);
    expect(stderr).toContain('Setting AzureWebJobsStorage: expected a storage connection string');
  });

  test('a bad connection string is named and never printed with its key', async () => {
    const { code, stderr } = await cli(['submit', join(dir, 'x.jsonl')], {
      env: { AzureWebJobsStorage: 'AccountKey=s3cr3t;nonsense' },
    });
    expect(code).toBe(2);
    expect(stderr).toContain('Setting AzureWebJobsStorage');
    expect(stderr).toContain('AccountKey=***');
    expect(stderr).not.toContain('s3cr3t');
  });

  test('a bad INPUT_CONTAINER is named', async () => {
    const { code, stderr } = await cli(['submit', join(dir, 'x.jsonl')], {
      env: { AzureWebJobsStorage: 'UseDevelopmentStorage=true', INPUT_CONTAINER: 'Bad_Name' },
    });
    expect(code).toBe(2);
    expect(stderr).toContain('Setting INPUT_CONTAINER');
  });

  test('--help: exit 0, usage on stdout', async () => {
    const { code, stdout } = await cli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: phi3-batch');
    expect(stdout).toMatch(/submit .*<file>/);
  });

  test('an unknown command: exit 2', async () => {
    const { code, stderr } = await cli(['frobnicate']);
    expect(code).toBe(2);
    expect(stderr).toContain("unknown command 'frobnicate'");
  });
});
