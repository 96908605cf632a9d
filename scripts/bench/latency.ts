/**
 * npm run bench:latency: how much of a deployment's budget the pipeline uses when the endpoint takes the
 * time a real generation takes. For each mean answer time (time to first token plus per-token time, with
 * a lognormal tail) and each number of instances, one job against a fresh simulator whose limits are
 * scaled so the job needs about BENCH_LATENCY_SECONDS (60) of admissions at the binding limit.
 *
 * Environment: BENCH_LATENCY_CASES (mean answer seconds, comma-separated; default 0.05,2,8,30),
 * BENCH_LATENCY_INSTANCES (default 1,4), BENCH_LATENCY_SECONDS (default 60), BENCH_LATENCY_RPM (default
 * 1200), BENCH_LATENCY_TAIL_SIGMA (default 0.5), QUEUE_MESSAGE_MAX_REQUESTS (passed to the app when set: the host
 * holds at most batchSize + newBatchThreshold messages, so the requests a message carries bound the calls
 * an instance can keep under way). A case that has not finished after twice its target
 * plus three mean answer times (and 20 s to start) is stopped; its figures cover what was done by then.
 */
import { readFileSync } from 'node:fs';
import { createTokenCounter } from '../../src/adapters/tokenizer/index.js';
import type { ChatCompletionBody } from '../../src/core/chat.js';
import { startLocalStack } from '../../dev/local/stack/index.js';
import { simulatedCompletion, startPhi3Simulator, type Phi3Simulator } from '../../dev/simulator/index.js';
import { createPipeline, startWorkerProcess, stopWorkerProcesses, table, type WorkerProcess } from './benchSupport.js';

const list = (name: string, fallback: string): number[] =>
  (process.env[name] ?? fallback)
    .split(',')
    .map((value) => Number(value.trim()))
    .filter((value) => value > 0);
const MEAN_ANSWER_SECONDS = list('BENCH_LATENCY_CASES', '0.05,2,8,30');
const INSTANCES = list('BENCH_LATENCY_INSTANCES', '1,4');
const TARGET_SECONDS = Number(process.env['BENCH_LATENCY_SECONDS'] ?? 60);
const RPM = Number(process.env['BENCH_LATENCY_RPM'] ?? 1_200);
const TAIL_SIGMA = Number(process.env['BENCH_LATENCY_TAIL_SIGMA'] ?? 0.5);
const MAX_TOKENS = 100;
const WINDOW_IN_MS = 10_000;
/** Share of the answer time spent before the first token; the rest is per-token time. */
const FIRST_TOKEN_SHARE = 0.2;
const MODEL = 'Phi-3-mini-4k-instruct';
const SAMPLE_EVERY_IN_MS = 250;
/** BENCH_LATENCY_TIMELINE=1 prints admissions and calls in flight per 5 s of each case, to see where the budget went unused. */
const TIMELINE = process.env['BENCH_LATENCY_TIMELINE'] === '1';
const TIMELINE_STEP_IN_MS = 5_000;

const counter = createTokenCounter(MODEL);
// Requests bind: as many lines as the RPM admits in the target time.
const LINES = Math.max(1, Math.round((RPM * TARGET_SECONDS) / 60));
const bodies: ChatCompletionBody[] = Array.from({ length: LINES }, (_, i) => ({
  messages: [{ role: 'user', content: `Item ${i}: write a few sentences about the sea.` }],
  max_tokens: MAX_TOKENS,
}));
const admittedTokens = bodies.reduce((sum, body) => sum + counter.countChatPrompt(body.messages) + MAX_TOKENS, 0);
/** Tokens get 50% more room than the job needs at the request limit, so requests are the binding limit. */
const TPM = Math.ceil((admittedTokens / LINES) * RPM * 1.5);
const meanCompletionTokens =
  bodies.reduce((sum, body) => sum + simulatedCompletion(body, counter).completionTokens, 0) / LINES;
const jobText = `${bodies.map((body, i) => JSON.stringify({ custom_id: `lat-${i}`, method: 'POST', url: '/v1/chat/completions', body })).join('\n')}\n`;

/** Peak resident set of a process (Linux `VmHWM`), in MB; undefined where /proc is not there. */
function peakRssInMb(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? undefined : Number(match[1]) / 1024;
  } catch {
    return undefined;
  }
}

interface CaseResult {
  readonly row: string[];
}

async function runCase(meanAnswerSeconds: number, instances: number, run: number): Promise<CaseResult> {
  const meanInMs = meanAnswerSeconds * 1_000;
  const simulator: Phi3Simulator = await startPhi3Simulator({
    model: MODEL,
    latency: {
      baseInMs: FIRST_TOKEN_SHARE * meanInMs,
      perCompletionTokenInMs: ((1 - FIRST_TOKEN_SHARE) * meanInMs) / meanCompletionTokens,
      jitterInMs: 0,
      tailSigma: TAIL_SIGMA,
      seed: run,
    },
    limits: {
      requestsPerMinute: RPM,
      tokensPerMinute: TPM,
      requestWindowInMs: WINDOW_IN_MS,
      tokenWindowInMs: WINDOW_IN_MS,
    },
  });
  const stack = await startLocalStack();
  const pipeline = await createPipeline(stack, {
    PHI3_ENDPOINT: simulator.url,
    PHI3_API_KEY: simulator.apiKey,
    PHI3_MODEL: MODEL,
    PHI3_RPM_LIMIT: String(RPM),
    PHI3_TPM_LIMIT: String(TPM),
    PHI3_DEPLOYMENT: 'bench-latency',
    COSMOS_DATABASE: `benchlatency${run}`,
    SWEEPER_SCHEDULE: '0 0 0 1 1 *',
    ...(process.env['QUEUE_MESSAGE_MAX_REQUESTS'] === undefined
      ? {}
      : { QUEUE_MESSAGE_MAX_REQUESTS: process.env['QUEUE_MESSAGE_MAX_REQUESTS'] }),
  });
  const workers: WorkerProcess[] = Array.from({ length: instances }, () =>
    startWorkerProcess({ ...pipeline.settings, LOCAL_HOST_BLOB_POLL_MS: '100' }),
  );
  await Promise.all(workers.map((w) => w.ready));

  const samples: Array<{ atInMs: number; inFlight: number }> = [];
  const sampler = setInterval(
    () => samples.push({ atInMs: Date.now(), inFlight: simulator.inFlight }),
    SAMPLE_EVERY_IN_MS,
  );
  const started = Date.now();
  const deadlineInMs = started + 2 * TARGET_SECONDS * 1_000 + 3 * meanInMs + 20_000;
  const jobId = await pipeline.submit(`bench-latency-${run}.jsonl`, jobText);
  const job = await Promise.race([
    pipeline.waitForJob(jobId, 1_000),
    new Promise<undefined>((resolve) =>
      setTimeout(() => resolve(undefined), Math.max(0, deadlineInMs - Date.now())).unref(),
    ),
  ]);
  const finishedInMs = Date.now() - started;
  clearInterval(sampler);
  const stored = job ?? (await pipeline.jobs.getJob(jobId))?.job;
  const rssInMb = workers.map((w) => peakRssInMb(w.child.pid)).filter((value): value is number => value !== undefined);
  await stopWorkerProcesses(workers);
  pipeline.close();
  await stack.close();
  const peakInFlight = simulator.peakInFlight;
  await simulator.close();

  const entries = simulator.log.entries();
  const admitted = entries.filter((e) => e.status !== 429 && e.admittedTokens > 0);
  const throttled = entries.filter((e) => e.status === 429).length;
  const first = Math.min(...entries.map((e) => e.atInMs));
  const last = Math.max(...admitted.map((e) => e.atInMs));
  const minutes = Math.max(1, last - first) / 60_000;
  const rpmShare = admitted.length / minutes / RPM;
  const tpmShare = admitted.reduce((sum, e) => sum + e.admittedTokens, 0) / minutes / TPM;
  const steady = samples.filter((s) => s.atInMs >= first && s.atInMs <= last);
  const meanInFlight = steady.reduce((sum, s) => sum + s.inFlight, 0) / Math.max(1, steady.length);
  if (TIMELINE) {
    printTimeline(admitted, samples, first, last);
    printRepeatedCalls(entries, first);
  }
  const succeeded = stored?.counts.succeeded ?? 0;
  const failed = stored?.counts.failed ?? 0;
  return {
    row: [
      `${meanAnswerSeconds} s`,
      String(instances),
      `${succeeded} / ${failed} of ${LINES}${job === undefined ? ' (stopped)' : ''}`,
      `${tpmShare > rpmShare ? 'TPM' : 'RPM'} ${(Math.max(rpmShare, tpmShare) * 100).toFixed(1)}%`,
      String(throttled),
      succeeded + failed === 0 ? '-' : (entries.length / (succeeded + failed)).toFixed(3),
      rssInMb.length === 0 ? '-' : `${Math.max(...rssInMb).toFixed(0)} MB`,
      `${meanInFlight.toFixed(1)} / ${peakInFlight}`,
      // Little's law: what the binding rate needs under way per instance at the mean answer time.
      ((RPM / 60 / instances) * meanAnswerSeconds).toFixed(1),
      `${(finishedInMs / 1000).toFixed(1)} s`,
    ],
  };
}

function printTimeline(
  admitted: ReadonlyArray<{ atInMs: number }>,
  samples: ReadonlyArray<{ atInMs: number; inFlight: number }>,
  first: number,
  last: number,
): void {
  const perStep = (RPM / 60_000) * TIMELINE_STEP_IN_MS;
  for (let t = first; t <= last; t += TIMELINE_STEP_IN_MS) {
    const within = <T extends { atInMs: number }>(xs: readonly T[]) =>
      xs.filter((x) => x.atInMs >= t && x.atInMs < t + TIMELINE_STEP_IN_MS);
    const inFlight = within(samples).map((s) => s.inFlight);
    process.stdout.write(
      `  +${((t - first) / 1000).toFixed(0).padStart(3)} s  admitted ${String(within(admitted).length).padStart(4)}` +
        ` (${((within(admitted).length / perStep) * 100).toFixed(0).padStart(3)}%)  in flight ${inFlight.length === 0 ? '-' : Math.max(...inFlight)}\n`,
    );
  }
}

/** Requests sent more than once (the same messages): when each call left and how it ended at the endpoint. */
function printRepeatedCalls(
  entries: ReadonlyArray<{ atInMs: number; status: number; outcome: string; requestHash: string | null }>,
  first: number,
): void {
  const byRequest = new Map<string, (typeof entries)[number][]>();
  for (const e of entries)
    if (e.requestHash !== null) byRequest.set(e.requestHash, [...(byRequest.get(e.requestHash) ?? []), e]);
  for (const calls of byRequest.values()) {
    if (calls.length < 2) continue;
    const described = calls.map((c) => `+${((c.atInMs - first) / 1000).toFixed(1)} s ${c.status} ${c.outcome}`);
    process.stdout.write(`  sent ${calls.length} times: ${described.join('; ')}\n`);
  }
}

async function main(): Promise<void> {
  process.stdout.write(
    `Job: ${LINES} lines, max_tokens ${MAX_TOKENS}, ~${meanCompletionTokens.toFixed(0)} completion tokens per answer; ` +
      `limits ${RPM} RPM, ${TPM} TPM (requests bind; ${TARGET_SECONDS} s of admissions at the limit), windows ${WINDOW_IN_MS / 1000} s; ` +
      `answer time: ${FIRST_TOKEN_SHARE * 100}% to first token, the rest per token, lognormal tail sigma ${TAIL_SIGMA}.\n`,
  );
  const rows: string[][] = [];
  let run = 0;
  for (const meanAnswerSeconds of MEAN_ANSWER_SECONDS) {
    for (const instances of INSTANCES) {
      run += 1;
      const { row } = await runCase(meanAnswerSeconds, instances, run);
      rows.push(row);
      process.stdout.write(`  done: ${meanAnswerSeconds} s, ${instances} instance(s)\n`);
    }
  }
  process.stdout.write(
    `\n${table(
      [
        'mean answer',
        'instances',
        'succeeded / failed',
        'binding limit used',
        '429s',
        'calls per line',
        'peak RSS per instance',
        'calls in flight (mean / peak)',
        'needed per instance',
        'time',
      ],
      rows,
    )}\n`,
  );
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
