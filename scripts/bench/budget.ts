/**
 * npm run bench:budget: how much of a deployment's budget each approach uses, and at what cost in 429s.
 * Every contender runs the same workload against a fresh simulator with the same limits, in one run.
 */
import pLimit from 'p-limit';
import { setTimeout as sleep } from 'node:timers/promises';
import { Phi3ChatClient } from '../../src/adapters/phi3/Phi3ChatClient.js';
import { createTokenCounter } from '../../src/adapters/tokenizer/index.js';
import type { ChatCompletionBody } from '../../src/core/chat.js';
import { parseRetryAfterInMs } from '../../src/core/retryPolicy.js';
import { startLocalStack } from '../../dev/local/stack/index.js';
import { startPhi3Simulator, type Phi3Simulator } from '../../dev/simulator/index.js';
import { createPipeline, startWorkerProcess, stopWorkerProcesses, table } from './benchSupport.js';

const RPM = Number(process.env['BENCH_RPM'] ?? 600);
const TPM = Number(process.env['BENCH_TPM'] ?? 60_000);
const REQUESTS = Number(process.env['BENCH_REQUESTS'] ?? 500);
const MAX_TOKENS = 90;
const WINDOW_IN_MS = 10_000;
const MODEL = 'Phi-3-mini-4k-instruct';
const LATENCY = { baseInMs: 250, perCompletionTokenInMs: 4, jitterInMs: 100 };

const bodies: ChatCompletionBody[] = Array.from({ length: REQUESTS }, (_, i) => ({
  messages: [{ role: 'user', content: `Give a one-line fact about the number ${i}.` }],
  max_tokens: MAX_TOKENS,
}));
const counter = createTokenCounter(MODEL);
const admissionCost = (body: ChatCompletionBody) => counter.countChatPrompt(body.messages) + MAX_TOKENS;

interface Result {
  readonly name: string;
  readonly finishInMs: number;
  /** Requests that did not succeed: given up after their attempts, or still retrying at the deadline. */
  readonly failed: number;
}

/** Baselines that retry forever can livelock in a 429 storm: each gets this long, then what is left counts as failed. */
const DEADLINE_FACTOR = 3;
let deadlineInMs = Infinity;

function measure(result: Result, simulator: Phi3Simulator): string[] {
  const entries = simulator.log.entries();
  const admitted = entries.filter((e) => e.status === 200);
  const throttled = entries.filter((e) => e.status === 429).length;
  const first = Math.min(...entries.map((e) => e.atInMs));
  const last = Math.max(...admitted.map((e) => e.atInMs));
  const minutes = Math.max(1, last - first) / 60_000;
  const rpmShare = admitted.length / minutes / RPM;
  const tokens = admitted.reduce((sum, e) => sum + e.admittedTokens, 0);
  const tpmShare = tokens / minutes / TPM;
  const binding = tpmShare >= rpmShare ? 'TPM' : 'RPM';
  return [
    result.name,
    `${(rpmShare * 100).toFixed(1)}%`,
    `${(tpmShare * 100).toFixed(1)}%`,
    `${binding} ${(Math.max(rpmShare, tpmShare) * 100).toFixed(1)}%`,
    `${throttled} (${((throttled / entries.length) * 100).toFixed(2)}%)`,
    String(entries.length),
    `${(result.finishInMs / 1000).toFixed(1)} s`,
    String(result.failed),
  ];
}

async function freshSimulator(): Promise<Phi3Simulator> {
  // Both windows at 10 s (Azure's request window): a burst can only take a sixth of a minute's tokens,
  // as it would over a run many windows long, while the whole benchmark stays near a minute per contender.
  return startPhi3Simulator({
    model: MODEL,
    latency: LATENCY,
    limits: {
      requestsPerMinute: RPM,
      tokensPerMinute: TPM,
      requestWindowInMs: WINDOW_IN_MS,
      tokenWindowInMs: WINDOW_IN_MS,
    },
  });
}

/** This project: the real pipeline, `instances` worker processes sharing the deployment's budget through Cosmos. */
async function runProject(instances: number, run: number): Promise<{ result: Result; simulator: Phi3Simulator }> {
  const simulator = await freshSimulator();
  const stack = await startLocalStack();
  const pipeline = await createPipeline(stack, {
    PHI3_ENDPOINT: simulator.url,
    PHI3_API_KEY: simulator.apiKey,
    PHI3_MODEL: MODEL,
    PHI3_RPM_LIMIT: String(RPM),
    PHI3_TPM_LIMIT: String(TPM),
    PHI3_DEPLOYMENT: 'bench',
    COSMOS_DATABASE: `bench${run}`,
    QUEUE_MESSAGE_MAX_REQUESTS: '16',
    SWEEPER_SCHEDULE: '0 0 0 1 1 *',
  });
  const workers = Array.from({ length: instances }, () =>
    startWorkerProcess({ ...pipeline.settings, LOCAL_HOST_BLOB_POLL_MS: '100' }),
  );
  await Promise.all(workers.map((w) => w.ready));
  const started = Date.now();
  const text = bodies
    .map((b, i) => JSON.stringify({ custom_id: `r${i}`, method: 'POST', url: '/v1/chat/completions', body: b }))
    .join('\n');
  const jobId = await pipeline.submit('bench.jsonl', `${text}\n`);
  const job = await pipeline.waitForJob(jobId);
  const finishInMs = Date.now() - started;
  await stopWorkerProcesses(workers);
  pipeline.close();
  await stack.close();
  return {
    result: {
      name: `phi3-batch, ${instances} instance${instances > 1 ? 's' : ''}`,
      finishInMs,
      failed: job.counts.failed,
    },
    simulator,
  };
}

/** Shared work list: each instance takes the next request, like competing queue consumers. */
function workList() {
  let next = 0;
  return { take: (): number | undefined => (next < bodies.length && Date.now() < deadlineInMs ? next++ : undefined) };
}

/** Naive: p-limit with a fixed concurrency in each instance, and retry after a 429's retry-after. */
async function runNaive(instances: number, concurrency: number): Promise<{ result: Result; simulator: Phi3Simulator }> {
  const simulator = await freshSimulator();
  const work = workList();
  const started = Date.now();
  let succeeded = 0;
  await Promise.all(
    Array.from({ length: instances }, async () => {
      const client = new Phi3ChatClient({
        endpoint: simulator.url,
        apiKey: simulator.apiKey,
        apiVersion: '2024-05-01-preview',
        timeoutInMs: 60_000,
        connections: concurrency,
      });
      const limit = pLimit(concurrency);
      const tasks: Promise<void>[] = [];
      for (let index = work.take(); index !== undefined; index = work.take()) {
        const body = bodies[index]!;
        tasks.push(
          limit(async () => {
            for (let attempt = 0; attempt < 50 && Date.now() < deadlineInMs; attempt += 1) {
              const response = await client.exchange(body);
              if (response.kind === 'response' && response.status === 200) {
                succeeded += 1;
                return;
              }
              const wait =
                response.kind === 'response' ? (parseRetryAfterInMs(response.headers, Date.now()) ?? 1000) : 1000;
              await sleep(Math.min(wait, Math.max(0, deadlineInMs - Date.now())));
            }
          }),
        );
        // Take work only as fast as this instance can start it, so instances compete for the list.
        if (limit.pendingCount > concurrency) await Promise.race(tasks);
      }
      await Promise.all(tasks);
      await client.close();
    }),
  );
  return {
    result: {
      name: `naive p-limit(${concurrency}) + retry, ${instances} instances`,
      finishInMs: Date.now() - started,
      failed: REQUESTS - succeeded,
    },
    simulator,
  };
}

/**
 * The cookbook parallel processor: in each process, request and token capacity refilled continuously
 * up to the (deployment's) per-minute limits, a 15 s pause after any 429, five attempts per request.
 */
async function runCookbook(instances: number): Promise<{ result: Result; simulator: Phi3Simulator }> {
  const simulator = await freshSimulator();
  const work = workList();
  const started = Date.now();
  let succeeded = 0;
  await Promise.all(
    Array.from({ length: instances }, async () => {
      const client = new Phi3ChatClient({
        endpoint: simulator.url,
        apiKey: simulator.apiKey,
        apiVersion: '2024-05-01-preview',
        timeoutInMs: 60_000,
        connections: 256,
      });
      let requestCapacity = RPM;
      let tokenCapacity = TPM;
      let lastUpdate = Date.now();
      let lastRateLimitError = 0;
      const retries: Array<{ index: number; attemptsLeft: number }> = [];
      const inFlight = new Set<Promise<void>>();
      for (;;) {
        let next = retries.shift();
        if (next === undefined) {
          const index = work.take();
          if (index !== undefined) next = { index, attemptsLeft: 5 };
        }
        if (next === undefined || Date.now() > deadlineInMs) {
          if (next !== undefined) continue;
          if (inFlight.size === 0) break;
          await Promise.race(inFlight);
          continue;
        }
        const body = bodies[next.index]!;
        const cost = admissionCost(body);
        for (;;) {
          const now = Date.now();
          requestCapacity = Math.min(RPM, requestCapacity + (RPM * (now - lastUpdate)) / 60_000);
          tokenCapacity = Math.min(TPM, tokenCapacity + (TPM * (now - lastUpdate)) / 60_000);
          lastUpdate = now;
          const pauseLeft = lastRateLimitError + 15_000 - now;
          if (pauseLeft > 0) {
            await sleep(pauseLeft);
            continue;
          }
          if ((requestCapacity >= 1 && tokenCapacity >= cost) || now > deadlineInMs) break;
          await sleep(1);
        }
        requestCapacity -= 1;
        tokenCapacity -= cost;
        const task = next;
        const call = (async () => {
          const response = await client.exchange(body);
          if (response.kind === 'response' && response.status === 200) {
            succeeded += 1;
            return;
          }
          if (response.kind === 'response' && response.status === 429) lastRateLimitError = Date.now();
          if (task.attemptsLeft > 1 && Date.now() < deadlineInMs)
            retries.push({ index: task.index, attemptsLeft: task.attemptsLeft - 1 });
        })();
        inFlight.add(call);
        void call.finally(() => inFlight.delete(call));
      }
      await client.close();
    }),
  );
  return {
    result: {
      name: `cookbook (per-process buckets, 15 s pause), ${instances} instances`,
      finishInMs: Date.now() - started,
      failed: REQUESTS - succeeded,
    },
    simulator,
  };
}

async function main(): Promise<void> {
  const cost = admissionCost(bodies[0]!);
  const minimumInMs = Math.max(REQUESTS / RPM, (REQUESTS * cost) / TPM) * 60_000;
  process.stdout.write(
    `Workload: ${REQUESTS} requests, ~${cost} tokens each at admission (prompt + max_tokens ${MAX_TOKENS}); limits ${RPM} RPM, ${TPM} TPM; ` +
      `theoretical minimum ${(minimumInMs / 1000).toFixed(1)} s. Simulator windows ${WINDOW_IN_MS / 1000} s for requests and tokens; latency ${LATENCY.baseInMs} ms + ${LATENCY.perCompletionTokenInMs} ms/token.\n`,
  );
  const rows: string[][] = [];
  const contenders: Array<() => Promise<{ result: Result; simulator: Phi3Simulator }>> = [
    () => runProject(1, 1),
    () => runProject(4, 2),
    () => runNaive(4, 8),
    () => runCookbook(4),
  ];
  for (const contender of contenders) {
    deadlineInMs = Date.now() + DEADLINE_FACTOR * minimumInMs + 30_000;
    const { result, simulator } = await contender();
    rows.push(measure(result, simulator));
    await simulator.close();
    process.stdout.write(`  done: ${result.name}\n`);
  }
  process.stdout.write(
    `\n${table(['contender', 'RPM used', 'TPM used', 'binding limit used', '429s (share)', 'calls', 'time to finish', 'failed'], rows)}\n`,
  );
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
