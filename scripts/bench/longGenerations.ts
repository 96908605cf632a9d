/**
 * npm run bench:long: long generations finish instead of timing out and being billed again. One job whose
 * answers take from BENCH_LONG_MIN_SECONDS (60) to BENCH_LONG_MAX_SECONDS (300): the time to first token
 * is the minimum and each answer's tokens take the rest, in proportion to its length. The app keeps its
 * default PHI3_TIMEOUT_MS (60 s): each call's limit follows its max_tokens (decision 0010). Prints the
 * lines that succeeded and failed, the endpoint's calls (all billed: the simulator completes every call
 * it starts) and the lines that failed for a timeout. Takes about the longest answer, in real time: the
 * simulator has no fast-forward.
 *
 * Environment: BENCH_LONG_LINES (default 40), BENCH_LONG_MIN_SECONDS, BENCH_LONG_MAX_SECONDS.
 */
import { createTokenCounter } from '../../src/adapters/tokenizer/index.js';
import type { ChatCompletionBody } from '../../src/core/chat.js';
import { startLocalStack } from '../../dev/local/stack/index.js';
import { simulatedCompletion, startPhi3Simulator } from '../../dev/simulator/index.js';
import { createPipeline, startWorkerProcess, stopWorkerProcesses, table } from './benchSupport.js';

const LINES = Number(process.env['BENCH_LONG_LINES'] ?? 40);
const MIN_IN_MS = Number(process.env['BENCH_LONG_MIN_SECONDS'] ?? 60) * 1_000;
const MAX_IN_MS = Number(process.env['BENCH_LONG_MAX_SECONDS'] ?? 300) * 1_000;
const MAX_TOKENS = 2_000;
const MODEL = 'Phi-3-mini-4k-instruct';

const counter = createTokenCounter(MODEL);
// Prompts that ask for answers of different lengths, so the answer times spread from the minimum to the maximum.
const bodies: ChatCompletionBody[] = Array.from({ length: LINES }, (_, i) => ({
  messages: [{ role: 'user', content: `Item ${i}: ${'write about the sea and its tides. '.repeat(1 + (i % 8))}` }],
  max_tokens: MAX_TOKENS,
}));
const completionTokens = bodies.map((body) => simulatedCompletion(body, counter).completionTokens);
const longest = Math.max(...completionTokens);
const perTokenInMs = (MAX_IN_MS - MIN_IN_MS) / Math.max(1, longest);

async function main(): Promise<void> {
  const answerTimes = completionTokens.map((tokens) => MIN_IN_MS + perTokenInMs * tokens);
  process.stdout.write(
    `Job: ${LINES} lines, max_tokens ${MAX_TOKENS}; answers of ${Math.min(...completionTokens)}-${longest} tokens taking ` +
      `${(Math.min(...answerTimes) / 1000).toFixed(0)}-${(Math.max(...answerTimes) / 1000).toFixed(0)} s ` +
      `(${MIN_IN_MS / 1000} s to the first token, ${(perTokenInMs / 1000).toFixed(2)} s a token).\n`,
  );
  const simulator = await startPhi3Simulator({
    model: MODEL,
    latency: { baseInMs: MIN_IN_MS, perCompletionTokenInMs: perTokenInMs, jitterInMs: 0, tailSigma: 0, seed: 1 },
  });
  const stack = await startLocalStack();
  const pipeline = await createPipeline(stack, {
    PHI3_ENDPOINT: simulator.url,
    PHI3_API_KEY: simulator.apiKey,
    PHI3_MODEL: MODEL,
    PHI3_DEPLOYMENT: 'bench-long',
    COSMOS_DATABASE: 'benchlong',
    SWEEPER_SCHEDULE: '0 0 0 1 1 *',
  });
  const workers = [startWorkerProcess({ ...pipeline.settings, LOCAL_HOST_BLOB_POLL_MS: '100' })];
  await Promise.all(workers.map((w) => w.ready));
  const started = Date.now();
  const text = `${bodies.map((body, i) => JSON.stringify({ custom_id: `long-${i}`, method: 'POST', url: '/v1/chat/completions', body })).join('\n')}\n`;
  const jobId = await pipeline.submit('bench-long.jsonl', text);
  const job = await pipeline.waitForJob(jobId, 2_000);
  const seconds = (Date.now() - started) / 1000;
  const timedOut: number[] = [];
  for await (const outcome of pipeline.jobs.listOutcomes(jobId)) {
    if (outcome.status === 'failed' && /in time/.test(outcome.error?.message ?? '')) timedOut.push(outcome.line);
  }
  await stopWorkerProcesses(workers);
  pipeline.close();
  await stack.close();
  const entries = simulator.log.entries();
  await simulator.close();
  const answered = entries.filter((e) => e.status === 200).length;
  process.stdout.write(
    `\n${table(
      [
        'lines',
        'succeeded / failed',
        'endpoint calls',
        'answered 200',
        'failed for a timeout',
        'unconfirmed calls',
        'time',
      ],
      [
        [
          String(LINES),
          `${job.counts.succeeded} / ${job.counts.failed}`,
          String(entries.length),
          String(answered),
          String(timedOut.length),
          String(job.spend?.unconfirmedCalls ?? 0),
          `${seconds.toFixed(0)} s`,
        ],
      ],
    )}\n`,
  );
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
