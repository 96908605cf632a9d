import { InMemoryBlobStore } from '../../src/adapters/memory/InMemoryBlobStore.js';
import { InMemoryJobStore } from '../../src/adapters/memory/InMemoryJobStore.js';
import { InMemoryUsageLedger } from '../../src/adapters/memory/InMemoryUsageLedger.js';
import { InMemoryRollupStore } from '../../src/adapters/memory/InMemoryRollupStore.js';
import { InMemoryJobSpendStore } from '../../src/adapters/memory/InMemoryJobSpendStore.js';
import { InMemoryMessageQueue } from '../../src/adapters/memory/InMemoryMessageQueue.js';
import type { FinalizeDeps } from '../../src/app/finalizeJob.js';
import type { IngestDeps } from '../../src/app/ingestBlob.js';
import { Deployments } from '../../src/app/deployments.js';
import { silentLogger } from '../../src/app/Logger.js';
import { ResultParts } from '../../src/app/resultParts.js';
import type {
  ChatClient,
  ChatCompleteOptions,
  ChatCompletionResult,
  JobSpendStore,
  JobStore,
  RateLimiter,
  RollupStore,
  UsageLedger,
} from '../../src/app/ports.js';
import type { WorkerDeps } from '../../src/app/worker/WorkerDeps.js';
import { toChatCompletionResult, type Phi3HttpAnswer } from '../../src/adapters/phi3/phi3Answer.js';
import { buildWorkerDeps } from '../../src/buildWorkerDeps.js';
import type { ChatCompletionBody, TokenCounter } from '../../src/core/chat.js';
import { DEFAULT_PRICES } from '../../src/core/pricing.js';
import { haltAfterSuccess, laterHalt, type DeploymentHalt } from '../../src/core/SliceSchedule.js';

/** Counts characters / 4: deterministic and good enough where exact tokenisation is not what is tested. */
export const roughTokenCounter: TokenCounter = {
  countText: (text) => Math.ceil(text.length / 4),
  countChatPrompt: (messages) =>
    messages.reduce((sum, m) => sum + 4 + Math.ceil(String(m.content ?? '').length / 4), 1),
};

let responseCount = 0;

/** A 200 with usage 10 + 5; every answer has its own id, as the endpoint's do (the ledger is keyed by it). */
export function okResponse(body: ChatCompletionBody): Phi3HttpAnswer {
  responseCount += 1;
  const prompt = String(body.messages[body.messages.length - 1]?.content ?? '');
  return {
    kind: 'response',
    status: 200,
    headers: {},
    body: {
      id: `chatcmpl-${responseCount}`,
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: `echo: ${prompt}` }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
    },
    requestId: `req-${responseCount}`,
    latencyInMs: 3,
  };
}

export type ChatScript = (
  body: ChatCompletionBody,
  call: number,
  customId: string | undefined,
  callId: string | undefined,
) => Phi3HttpAnswer;

/**
 * A chat client scripted per call: `script(body, callNumber)` returns what the endpoint answered on the
 * wire, which the Phi-3 adapter's own parsing turns into the port's typed result or error; every call is recorded.
 */
export class ScriptedChatClient implements ChatClient {
  readonly calls: Array<{ body: ChatCompletionBody; customId: string | undefined; callId: string | undefined }> = [];
  /** Dates a `retry-after` given as an HTTP date; `createWorld` sets it to the world's clock. */
  clock: { nowInMs(): number } = { nowInMs: () => Date.now() };
  constructor(private readonly script: ChatScript = okResponse) {}
  async complete(body: ChatCompletionBody, options: ChatCompleteOptions = {}): Promise<ChatCompletionResult> {
    this.calls.push({ body, customId: options.customId, callId: options.callId });
    const answer = this.script(body, this.calls.length, options.customId, options.callId);
    return toChatCompletionResult(answer, this.clock.nowInMs());
  }
  async close(): Promise<void> {}
}

export class RecordingLimiter implements RateLimiter {
  pausedUntilInMs = 0;
  readonly pauses: number[] = [];
  readonly corrections: Array<{ requests?: number | undefined; tokens?: number | undefined }> = [];
  acquired = 0;
  halt: DeploymentHalt | undefined;
  constructor(private readonly clock: { nowInMs(): number }) {}
  haltSending(halt: DeploymentHalt): void {
    this.halt = laterHalt(this.halt, halt);
  }
  resumeSending(sentAtInMs: number): void {
    this.halt = haltAfterSuccess(this.halt, sentAtInMs);
  }
  async acquire(_cost: { requests: number; tokens: number }, options: { maxWaitInMs: number }) {
    const wait = this.pausedUntilInMs - this.clock.nowInMs();
    if (wait > options.maxWaitInMs) return { granted: false as const, waitInMs: wait };
    this.acquired += 1;
    return { granted: true as const };
  }
  pauseUntil(untilInMs: number): void {
    this.pauses.push(untilInMs);
    this.pausedUntilInMs = Math.max(this.pausedUntilInMs, untilInMs);
  }
  correct(remaining: { requests?: number | undefined; tokens?: number | undefined }): void {
    this.corrections.push(remaining);
  }
  refundTokens(): void {}
}

/** Stores a world may take instead of its in-memory ones (the Cosmos adapters, for tests against the stand-in). */
export interface WorldStores {
  readonly jobs: JobStore;
  readonly ledger: UsageLedger;
  readonly rollups: RollupStore;
  readonly jobSpend: JobSpendStore;
}

export function createWorld(chat: ChatClient = new ScriptedChatClient(), stores?: WorldStores) {
  const clock = {
    now: Date.UTC(2026, 10, 27, 12),
    nowInMs(): number {
      return this.now;
    },
  };
  // Typed as the in-memory stores for the tests that reach into them; a world given other stores is used
  // through the ports only.
  const jobs = (stores?.jobs as InMemoryJobStore | undefined) ?? new InMemoryJobStore();
  const blobs = new InMemoryBlobStore();
  const requestQueue = new InMemoryMessageQueue();
  const controlQueue = new InMemoryMessageQueue();
  const limiter = new RecordingLimiter(clock);
  const sleeps: number[] = [];
  const ledger = (stores?.ledger as InMemoryUsageLedger | undefined) ?? new InMemoryUsageLedger();
  let callIds = 0;
  const rollups = (stores?.rollups as InMemoryRollupStore | undefined) ?? new InMemoryRollupStore();
  const jobSpend = stores?.jobSpend ?? new InMemoryJobSpendStore(jobs);
  let partIds = 0;
  const resultParts = new ResultParts(blobs, 'batch-output', () => (partIds += 1).toString(16).padStart(16, '0'));
  if (chat instanceof ScriptedChatClient) chat.clock = clock;
  const deployments = new Deployments([
    { name: 'test', model: 'Phi-3-mini-4k-instruct', chat, limiter, tokenCounter: roughTokenCounter },
  ]);
  const ingestDeps: IngestDeps = {
    jobs,
    blobs,
    requestQueue,
    controlQueue,
    deployments,
    clock,
    logger: silentLogger,
    defaultMaxTokens: 100,
    maxLineBytes: 4096,
    maxLinesPerFile: 1000,
    packing: { maxMessageBytes: 2048, maxItemsPerMessage: 4 },
    stateContainer: 'batch-output',
    chunkLines: 200_000,
    exactTokenLines: 1_000,
    prices: DEFAULT_PRICES,
    defaultMaxCostInNanos: undefined,
    resultParts,
  };
  const workerDeps: WorkerDeps = buildWorkerDeps(
    {
      jobs,
      blobs,
      requestQueue,
      controlQueue,
      deployments,
      ledger,
      jobSpend,
      resultParts,
      clock,
      random: () => 0.5,
      sleep: async (delayInMs) => {
        sleeps.push(delayInMs);
        clock.now += delayInMs;
      },
      newCallId: () => `call-${(callIds += 1)}`,
    },
    {
      retry: {
        maxAttempts: 3,
        baseDelayInMs: 100,
        maxDelayInMs: 1000,
        maxInlineWaitInMs: 5000,
        maxRequeueDelayInMs: 3_600_000,
      },
      prices: DEFAULT_PRICES,
      defaultMaxTokens: 100,
      returnUnusedTokens: false,
    },
  )(silentLogger);
  const finalizeDeps: FinalizeDeps = {
    jobs,
    clock,
    logger: silentLogger,
    outputContainer: 'batch-output',
    ledger,
    rollups,
    resultParts,
  };
  return {
    ledger,
    rollups,
    clock,
    jobs,
    blobs,
    requestQueue,
    controlQueue,
    limiter,
    sleeps,
    resultParts,
    ingestDeps,
    workerDeps,
    finalizeDeps,
  };
}

export const chatLine = (customId: string | undefined, content: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    ...(customId === undefined ? {} : { custom_id: customId }),
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'Phi-3-mini-4k-instruct', messages: [{ role: 'user', content }], max_tokens: 20, ...extra },
  });
