/**
 * npm run hostile: replays hostile inputs against the local stack (Azurite, the Cosmos stand-in, one
 * local Functions host, the Phi-3 simulator behind a fault proxy) and prints, per case: its outcome,
 * lines lost (no outcome), lines duplicated (more than one), time to finish, and calls made.
 * Target: every job ends, 0 lost, 0 duplicated, and the canary job beside a bad file finishes within a minute.
 * Small files and scaled limits: the whole run takes a few minutes.
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { BlobServiceClient } from '@azure/storage-blob';
import { startLocalStack } from '../dev/local/stack/index.js';
import { startPhi3Simulator } from '../dev/simulator/index.js';
import { jobIdFor } from '../src/core/jobId.js';
import type { Job } from '../src/core/job.js';
import { createPipeline, startWorkerProcess, stopWorkerProcesses, table, type Pipeline } from './bench/benchSupport.js';

const CASE_TIMEOUT_IN_MS = 90_000;
const LINES = 20;

/** What the fault proxy does to the next calls. */
type ProxyMode = 'pass' | '401' | '404' | 'garbage-2xx' | 'negative-headers' | 'absurd-retry-after';

/** POSTs to the host's API; the answer's status. */
async function post(apiUrl: string, path: string): Promise<number> {
  const answer = await fetch(`${apiUrl}${path}`, { method: 'POST' });
  await answer.arrayBuffer();
  return answer.status;
}

/** A proxy in front of the simulator that answers as `mode` says once `afterCalls` calls went through. */
function startFaultProxy(target: string) {
  const state = { mode: 'pass' as ProxyMode, afterCalls: 0, calls: 0, faulted: 0 };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    state.calls += 1;
    const faulty = state.mode !== 'pass' && state.calls > state.afterCalls;
    if (faulty && (state.mode === '401' || state.mode === '404')) {
      state.faulted += 1;
      req.resume();
      res.writeHead(Number(state.mode), { 'content-type': 'application/json', 'x-ms-error-code': 'Refused' });
      res.end(JSON.stringify({ error: { code: state.mode === '401' ? 'Unauthorized' : 'NotFound', message: 'no' } }));
      return;
    }
    if (faulty && state.mode === 'garbage-2xx' && state.faulted < 5) {
      state.faulted += 1;
      req.resume();
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>502 Bad Gateway</body></html>');
      return;
    }
    if (faulty && state.mode === 'absurd-retry-after' && state.faulted < 1) {
      state.faulted += 1;
      req.resume();
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '86400' });
      res.end(JSON.stringify({ error: { code: '429', message: 'Daily quota exceeded' } }));
      return;
    }
    const url = new URL(req.url ?? '/', target);
    const upstream = request(url, { method: req.method, headers: { ...req.headers, host: url.host } }, (answer) => {
      const headers = { ...answer.headers };
      if (faulty && state.mode === 'negative-headers' && state.faulted < 3) {
        state.faulted += 1;
        headers['x-ratelimit-remaining-tokens'] = '-999999999';
        headers['x-ratelimit-remaining-requests'] = '-999999';
      }
      res.writeHead(answer.statusCode ?? 502, headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  return new Promise<{ url: string; state: typeof state; close: () => Promise<void> }>((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        state,
        close: () => new Promise((done) => server.close(() => done())),
      }),
    ),
  );
}

const line = (id: string | undefined, content: string, body: Record<string, unknown> = {}): string =>
  JSON.stringify({
    ...(id === undefined ? {} : { custom_id: id }),
    method: 'POST',
    url: '/v1/chat/completions',
    body: { messages: [{ role: 'user', content }], max_tokens: 20, ...body },
  });
const plain = (prefix: string, n = LINES): string[] =>
  Array.from({ length: n }, (_, i) => line(`${prefix}-${i}`, `q${i}`));

interface CaseResult {
  readonly name: string;
  readonly outcome: string;
  readonly lost: number;
  readonly duplicated: number;
  readonly seconds: number;
  readonly calls: number;
}

async function main(): Promise<void> {
  const simulator = await startPhi3Simulator({
    latency: { baseInMs: 20, perCompletionTokenInMs: 1, jitterInMs: 10 },
    limits: { requestsPerMinute: 3_000, tokensPerMinute: 600_000 },
  });
  const proxy = await startFaultProxy(simulator.url);
  const stack = await startLocalStack();
  const pipeline = await createPipeline(stack, {
    PHI3_ENDPOINT: proxy.url,
    PHI3_API_KEY: simulator.apiKey,
    PHI3_RPM_LIMIT: '3000',
    PHI3_TPM_LIMIT: '600000',
    PHI3_DEPLOYMENT: 'hostile',
    COSMOS_DATABASE: 'hostile',
    RETRY_BASE_DELAY_MS: '100',
    RETRY_MAX_ATTEMPTS: '4',
    RETRY_MAX_REQUEUE_DELAY_MS: '5000',
    RETRY_MAX_INLINE_WAIT_MS: '2000',
    INGEST_CHUNK_LINES: '10',
    SWEEPER_SCHEDULE: '*/5 * * * * *',
    SWEEPER_STALL_MS: '10000',
  });
  const worker = startWorkerProcess({
    ...pipeline.settings,
    LOCAL_HOST_BLOB_POLL_MS: '200',
    LOCAL_HOST_HTTP_PORT: '0',
  });
  const apiUrlSeen = new Promise<string>((resolve) =>
    createInterface({ input: worker.child.stdout! }).on('line', (text) => {
      const match = /"httpUrl":"([^"]+)"/.exec(text);
      if (match !== null) resolve(match[1]!.replace(/\/$/, ''));
    }),
  );
  await worker.ready;
  const apiUrl = await apiUrlSeen;
  const input = BlobServiceClient.fromConnectionString(stack.settings['AzureWebJobsStorage']!).getContainerClient(
    pipeline.settings['INPUT_CONTAINER'] ?? 'batch-input',
  );

  const results: CaseResult[] = [];
  const run = async (name: string, act: () => Promise<string[]>, mode: ProxyMode = 'pass', afterCalls = 0) => {
    proxy.state.mode = mode;
    proxy.state.afterCalls = proxy.state.calls + afterCalls;
    proxy.state.faulted = 0;
    const callsBefore = proxy.state.calls;
    const started = Date.now();
    try {
      const jobIds = await act();
      for (const jobId of jobIds) {
        const job = await waitFinal(pipeline, jobId, started + CASE_TIMEOUT_IN_MS);
        results.push({
          name: jobIds.length > 1 ? `${name} [${jobIds.indexOf(jobId) + 1}]` : name,
          ...(await tally(pipeline, job, jobId)),
          seconds: (Date.now() - started) / 1000,
          calls: proxy.state.calls - callsBefore,
        });
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      results.push({ name, outcome: `error: ${message}`, lost: -1, duplicated: -1, seconds: 0, calls: 0 });
    }
    proxy.state.mode = 'pass';
    process.stderr.write(`  ${name}: done\n`);
  };
  const submitted = new Map<string, string>();
  const submit = async (name: string, text: string | Buffer) => {
    const jobId = await pipeline.submit(name, text as string);
    submitted.set(name, jobId);
    return jobId;
  };

  await run('BOM at the start', async () => [await submit('bom.jsonl', `\uFEFF${plain('bom').join('\n')}\n`)]);
  await run('CR-only line ends', async () => [await submit('cr.jsonl', `${plain('cr').join('\r')}\r`)]);
  await run('huge max_tokens + canary file', async () => [
    await submit('huge.jsonl', [line('huge', 'x', { max_tokens: 131_072 }), ...plain('h', 5)].join('\n')),
    await submit('canary.jsonl', plain('canary', 5).join('\n')),
  ]);
  await run('prompt over the context', async () => [
    await submit('context.jsonl', [line('long', 'word '.repeat(20_000)), ...plain('c', 5)].join('\n')),
  ]);
  await run('duplicate and colliding ids', async () => [
    await submit(
      'ids.jsonl',
      [line('same', 'a'), line('same', 'b'), line(undefined, 'c'), line('line-3', 'd')].join('\n'),
    ),
  ]);
  await run('invalid UTF-8', async () => [
    await submit(
      'utf8.jsonl',
      Buffer.concat([
        Buffer.from(`${plain('u', 3).join('\n')}\n`),
        Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a]),
        Buffer.from(plain('v', 3).join('\n')),
      ]),
    ),
  ]);
  await run('401 mid-job', async () => [await submit('k401.jsonl', plain('k', 40).join('\n'))], '401', 5);
  await run('after the key is fixed', async () => [await submit('fixed.jsonl', plain('f', 5).join('\n'))]);
  await run('3 concurrent retries of the 401 job', async () => {
    const jobId = submitted.get('k401.jsonl') ?? '';
    const statuses = await Promise.all(
      [1, 2, 3].map(() => post(apiUrl, `/api/jobs/${jobId}/retry?retryable_only=true`)),
    );
    process.stderr.write(`  concurrent retries answered ${statuses.join(', ')}\n`);
    return [jobId];
  });
  await run('404 mid-job', async () => [await submit('k404.jsonl', plain('n', 40).join('\n'))], '404', 5);
  await run('garbage 2xx', async () => [await submit('garbage.jsonl', plain('g').join('\n'))], 'garbage-2xx');
  await run(
    'negative ratelimit headers',
    async () => [await submit('neg.jsonl', plain('neg').join('\n'))],
    'negative-headers',
  );
  await run(
    'absurd retry-after',
    async () => [await submit('retry.jsonl', plain('ra').join('\n'))],
    'absurd-retry-after',
  );
  await run('copied blob', async () => {
    const original = await submit('orig.jsonl', plain('o', 5).join('\n'));
    await waitFinal(pipeline, original, Date.now() + CASE_TIMEOUT_IN_MS);
    const copy = input.getBlockBlobClient('copy.jsonl');
    const poller = await copy.beginCopyFromURL(input.getBlockBlobClient('orig.jsonl').url);
    await poller.pollUntilDone();
    const properties = await copy.getProperties();
    return [original, jobIdFor(input.containerName, 'copy.jsonl', properties.etag!)];
  });
  await run('overwrite between chunks', async () => {
    const first = await submit('over.jsonl', plain('ov', 60).join('\n'));
    await waitFor(pipeline, first, (job) => job.ingest.linesRead > 0);
    const second = await submit('over.jsonl', plain('nv', 15).join('\n'));
    return [first, second];
  });
  await run('delete between chunks', async () => {
    const jobId = await submit('gone.jsonl', plain('gone', 60).join('\n'));
    await waitFor(pipeline, jobId, (job) => job.ingest.linesRead > 0);
    await input.getBlockBlobClient('gone.jsonl').deleteIfExists();
    return [jobId];
  });
  await run('retry with its input deleted', async () => {
    const jobId = submitted.get('gone.jsonl') ?? '';
    const status = await post(apiUrl, `/api/jobs/${jobId}/retry`);
    process.stderr.write(`  retry of a job whose input is gone answered ${status}\n`);
    return [jobId];
  });
  await run('cancel mid-ingest', async () => {
    const jobId = await submit('cancel.jsonl', plain('cx', 60).join('\n'));
    await waitFor(pipeline, jobId, (job) => job.ingest.linesRead > 0);
    process.stderr.write(`  cancel answered ${await post(apiUrl, `/api/jobs/${jobId}/cancel`)}\n`);
    return [jobId];
  });

  await stopWorkerProcesses([worker]);
  pipeline.close();
  process.stdout.write(
    `\n${table(
      ['case', 'outcome', 'lines lost', 'lines duplicated', 'time to finish', 'calls made'],
      results.map((r) => [
        r.name,
        r.outcome,
        String(r.lost),
        String(r.duplicated),
        `${r.seconds.toFixed(1)} s`,
        String(r.calls),
      ]),
    )}\n`,
  );
  await proxy.close();
  await simulator.close();
  await stack.close();
  const ok = results.every((r) => r.lost === 0 && r.duplicated === 0 && !r.outcome.startsWith('error'));
  process.exit(ok ? 0 : 1);
}

async function waitFor(pipeline: Pipeline, jobId: string, until: (job: Job) => boolean): Promise<Job> {
  for (const deadline = Date.now() + CASE_TIMEOUT_IN_MS; Date.now() < deadline;) {
    const stored = await pipeline.jobs.getJob(jobId);
    if (stored !== undefined && until(stored.job)) return stored.job;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`job ${jobId} never reached the awaited state`);
}

async function waitFinal(pipeline: Pipeline, jobId: string, deadlineInMs: number): Promise<Job> {
  for (;;) {
    const stored = await pipeline.jobs.getJob(jobId);
    if (stored !== undefined && ['completed', 'failed', 'cancelled', 'expired'].includes(stored.job.status)) {
      return stored.job;
    }
    if (Date.now() > deadlineInMs) throw new Error(`job did not end within the case's time (${stored?.job.status})`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** What the job came to: status, error, and its lines counted against the outcomes. */
async function tally(pipeline: Pipeline, job: Job, jobId: string) {
  const seen = new Map<number, number>();
  const codes = new Map<string, number>();
  for await (const o of pipeline.jobs.listOutcomes(jobId)) {
    seen.set(o.line, (seen.get(o.line) ?? 0) + 1);
    const code = o.error?.code ?? 'ok';
    codes.set(code, (codes.get(code) ?? 0) + 1);
  }
  const expected = job.ingest.requests + job.ingest.invalid;
  const lost = Math.max(0, expected - seen.size);
  const duplicated = [...seen.values()].filter((n) => n > 1).length;
  const byCode = [...codes.entries()].map(([c, n]) => `${c}:${n}`).join(' ');
  const error = job.jobError === undefined ? '' : ` (${job.jobError.code})`;
  return { outcome: `${job.status}${error} ${byCode}`, lost, duplicated };
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
