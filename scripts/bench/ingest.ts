/**
 * npm run bench:ingest: ingest speed and memory for large files. Makes its own input files (streamed
 * into Azurite, never held whole), runs the ingest in a child process, and prints lines/s to fully
 * queued, the child's peak RSS, queue messages per line and Cosmos operations per line.
 */
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { withSettingDefaults } from '../../src/config.js';
import { startLocalStack } from '../../dev/local/stack/index.js';
import { repoFile, table } from './benchSupport.js';

const SIZES = (process.env['BENCH_INGEST_SIZES'] ?? '100000,1000000').split(',').map(Number);
const SYSTEM_PROMPT =
  'You are a meticulous analyst. Read the customer message, classify its intent (billing, delivery, account, product, other), ' +
  'rate its urgency from 1 to 5, extract any order numbers, and answer in JSON with keys intent, urgency, orders, summary. ' +
  'Be concise, neutral and precise; never invent order numbers that are not in the message.';
const WORDS = [
  'parcel',
  'invoice',
  'refund',
  'delivery',
  'password',
  'order',
  'charged',
  'twice',
  'broken',
  'late',
  'address',
  'warranty',
  'screen',
  'battery',
  'account',
];

/** A realistic line of about 1 KB: an OpenAI Batch request with a shared system prompt and a unique message. */
function line(index: number): string {
  const words: string[] = [];
  for (let i = 0, length = 0; length < 560; i += 1) {
    const word = WORDS[(index * 7 + i * 13) % WORDS.length]!;
    words.push(word);
    length += word.length + 1;
  }
  return JSON.stringify({
    custom_id: `request-${index}`,
    method: 'POST',
    url: '/v1/chat/completions',
    body: {
      model: 'Phi-3-mini-4k-instruct',
      messages: [
        { role: 'system', content: SYSTEM_PROMPT },
        { role: 'user', content: `Ticket ${index}: ${words.join(' ')}` },
      ],
      max_tokens: 200,
      temperature: 0,
    },
  });
}

function fileStream(lines: number): Readable {
  let next = 0;
  return new Readable({
    read() {
      const batch: string[] = [];
      while (batch.length < 1000 && next < lines) batch.push(line(next++));
      if (batch.length === 0) this.push(null);
      else this.push(`${batch.join('\n')}\n`);
    },
  });
}

async function runChild(
  env: Record<string, string>,
  container: string,
  name: string,
): Promise<{
  result: { kind: string; requests?: number; invalid?: number };
  invocations: number;
  elapsedInMs: number;
  maxRssInMb: number;
}> {
  return new Promise((resolve, reject) => {
    const nodeArgs = (process.env['BENCH_CHILD_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
    const child = spawn(
      process.execPath,
      [...nodeArgs, repoFile('dist/scripts/bench/ingestChild.js'), container, name],
      {
        env: { PATH: process.env['PATH'] ?? '', ...env },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').pop()!))
        : reject(new Error(`ingest child exited with ${code}: ${out}`)),
    );
  });
}

async function main(): Promise<void> {
  const rows: string[][] = [];
  for (const [index, lines] of SIZES.entries()) {
    // A fresh Azurite per size: one that still holds an earlier run's data (deleted or not) slows the next
    // run down, and the figures would measure the stand-in, not the ingest.
    const stack = await startLocalStack();
    const blobService = BlobServiceClient.fromConnectionString(stack.settings['AzureWebJobsStorage']!);
    const queueService = QueueServiceClient.fromConnectionString(stack.settings['AzureWebJobsStorage']!);
    const settings = Object.fromEntries(
      Object.entries(
        withSettingDefaults({
          ...stack.settings,
          PHI3_ENDPOINT: 'http://127.0.0.1:9',
          PHI3_API_KEY: 'not-used-by-the-ingest',
          COSMOS_DATABASE: `ingest${index}`,
          REQUEST_QUEUE: `ingest-bench-${index}`,
          CONTROL_QUEUE: `ingest-control-${index}`,
          ...(process.env['INGEST_EXACT_TOKEN_LINES'] === undefined
            ? {}
            : { INGEST_EXACT_TOKEN_LINES: process.env['INGEST_EXACT_TOKEN_LINES'] }),
        }),
      ).filter((e): e is [string, string] => e[1] !== undefined),
    );
    const container = blobService.getContainerClient(settings['INPUT_CONTAINER']!);
    await container.createIfNotExists();
    const name = `bench-${lines}.jsonl`;
    process.stdout.write(`Uploading ${lines} lines...`);
    const uploadStarted = Date.now();
    await container.getBlockBlobClient(name).uploadStream(fileStream(lines), 8 * 1024 * 1024, 4);
    const size = (await container.getBlobClient(name).getProperties()).contentLength ?? 0;
    process.stdout.write(
      ` ${(size / 1e6).toFixed(0)} MB in ${((Date.now() - uploadStarted) / 1000).toFixed(0)} s; ingesting...\n`,
    );

    const cosmosBefore = stack.cosmos!.requestCount();
    const run = await runChild(settings, settings['INPUT_CONTAINER']!, name);
    const cosmosOperations = stack.cosmos!.requestCount() - cosmosBefore;
    const queue = queueService.getQueueClient(settings['REQUEST_QUEUE']!);
    const messages = (await queue.getProperties()).approximateMessagesCount ?? 0;
    rows.push([
      lines.toLocaleString('en-US'),
      `${(size / 1e6).toFixed(0)} MB`,
      `${run.result.requests ?? '?'} / ${run.result.invalid ?? '?'}`,
      `${(run.elapsedInMs / 1000).toFixed(1)} s`,
      Math.round(lines / (run.elapsedInMs / 1000)).toLocaleString('en-US'),
      `${run.maxRssInMb.toFixed(0)} MB`,
      String(run.invocations),
      (messages / lines).toFixed(4),
      (cosmosOperations / lines).toFixed(5),
    ]);
    await stack.close();
  }
  process.stdout.write(
    `\n${table(['lines', 'file', 'requests / invalid', 'time to fully queued', 'lines/s', 'peak RSS (ingest process)', 'invocations', 'queue msgs/line', 'Cosmos ops/line'], rows)}\n`,
  );
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
