import { randomUUID } from 'node:crypto';
import type { RetentionDeps } from './app/retention.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { CosmosJobStore } from './adapters/cosmos/CosmosJobStore.js';
import { createCosmosClient, ensureCosmosContainers, warmBulkRouting } from './adapters/cosmos/createCosmosClient.js';
import { Phi3ChatClient } from './adapters/phi3/Phi3ChatClient.js';
import { AzureBlobStore } from './adapters/storage/AzureBlobStore.js';
import { AzureMessageQueue } from './adapters/storage/AzureMessageQueue.js';
import { createBlobServiceClient, createQueueServiceClient } from './adapters/storage/storageClients.js';
import { createTokenCounter } from './adapters/tokenizer/createTokenCounter.js';
import { finalizeJob, type FinalizeDeps } from './app/finalizeJob.js';
import type { IngestDeps } from './app/ingestBlob.js';
import type { Logger } from './app/Logger.js';
import type {
  BlobStore,
  BudgetStore,
  Clock,
  JobStore,
  MessageQueue,
  RateLimiter,
  RollupStore,
  ScheduleViews,
  SpendBudgetStore,
  UsageLedger,
} from './app/ports.js';
import type { WorkerDeps } from './app/worker/WorkerDeps.js';
import { buildWorkerDeps } from './buildWorkerDeps.js';
import { LocalRateLimiter } from './app/LocalRateLimiter.js';
import { loadConfig, type AppConfig, type DeploymentConfig, type Env } from './config.js';
import { CosmosBudgetStore } from './adapters/cosmos/CosmosBudgetStore.js';
import { CosmosUsageLedger } from './adapters/cosmos/CosmosUsageLedger.js';
import { CosmosRollupStore } from './adapters/cosmos/CosmosRollupStore.js';
import { CosmosJobSpendStore } from './adapters/cosmos/CosmosJobSpendStore.js';
import { CosmosSpendBudgetStore } from './adapters/cosmos/CosmosSpendBudgetStore.js';
import { CosmosResponseCache } from './adapters/cosmos/CosmosResponseCache.js';
import { Deployments } from './app/deployments.js';
import { SharedRateLimiter } from './app/SharedRateLimiter.js';
import { scheduleRates } from './core/SliceSchedule.js';
import { ResultParts } from './app/resultParts.js';
import { MAX_MESSAGE_BYTES } from './app/tuning.js';
import { AzureFileStore } from './adapters/storage/AzureFileStore.js';
import type { FileStore } from './app/openai/ports.js';
import type { FilesDeps } from './app/openai/files.js';
import type { BatchesDeps } from './app/openai/batches.js';
import { queueFinalEvent, type WebhookDeps } from './app/webhooks.js';
import { FetchWebhookSender } from './adapters/webhooks/FetchWebhookSender.js';
import { createAzureCredential } from './adapters/azureCredential.js';
import { noMetrics, type Metrics } from './app/ports.js';
import { DEFAULT_CALL_TIME_LIMIT_OPTIONS } from './core/callTimeout.js';
import { AzureBlobBacklogs, AzureQueueDepth } from './adapters/storage/AzureBlobBacklogs.js';
import { CosmosFairShareStore } from './adapters/cosmos/CosmosFairShareStore.js';
import { feedWork, type FeedDeps, type FeedOptions } from './app/feedWork.js';
import type { TendDeps } from './app/tendFairShare.js';
import { FairShareScheduleViews } from './app/fairShareViews.js';
import type { DeploymentLimits, FairShareStore } from './app/ports.js';
/** Largest upload through `POST /v1/files`: OpenAI takes 200 MB; the ingest reads far bigger files in chunks. */
const MAX_UPLOAD_BYTES = 1024 * 1024 * 1024;

export interface Services {
  readonly config: AppConfig;
  readonly jobs: JobStore;
  readonly blobs: BlobStore;
  readonly requestQueue: MessageQueue;
  readonly controlQueue: MessageQueue;
  readonly deployments: Deployments;
  readonly ledger: UsageLedger;
  readonly rollups: RollupStore;
  /** The documents of the daily and monthly budgets (BUDGETS). */
  readonly spendBudgets: SpendBudgetStore;
  readonly clock: Clock;
  readonly resultParts: ResultParts;
  /** Files uploaded through the OpenAI Files API. */
  readonly files: FileStore;
  /** Each running job's share of its deployment's budget and its ETA, for the job views. */
  readonly schedule: ScheduleViews;
  /** Each deployment's fair sharing between jobs (decision 0012). */
  readonly fairShare: FairShareStore;
  /** What the feeder's timer needs. */
  tendDeps(logger: Logger): TendDeps;
  filesDeps(): FilesDeps;
  batchesDeps(): BatchesDeps;
  webhookDeps(logger: Logger): WebhookDeps;
  ingestDeps(logger: Logger): IngestDeps;
  workerDeps(logger: Logger): WorkerDeps;
  finalizeDeps(logger: Logger): FinalizeDeps;
  /** What deleting a job and the retention pass need. */
  retentionDeps(logger: Logger): RetentionDeps;
  close(): Promise<void>;
}

const systemClock: Clock = { nowInMs: () => Date.now() };

/** Builds every adapter once, from validated settings. The only place that knows concrete classes. */
export async function createServices(env: Env): Promise<Services> {
  const config = loadConfig(env);
  const blobService = createBlobServiceClient(config.storage);
  const queueService = createQueueServiceClient(config.storage);
  const cosmosClient = createCosmosClient(config.cosmos);
  const containers = await ensureCosmosContainers(cosmosClient, config.cosmos);
  const jobs = new CosmosJobStore(containers.jobs, containers.lines);
  const blobs = new AzureBlobStore(blobService);
  const requestQueue = new AzureMessageQueue(queueService.getQueueClient(config.requestQueue));
  const controlQueue = new AzureMessageQueue(queueService.getQueueClient(config.controlQueue));
  await Promise.all([
    requestQueue.ensureExists(),
    controlQueue.ensureExists(),
    blobs.ensureContainer(config.inputContainer),
    blobs.ensureContainer(config.outputContainer),
    // The containers written in bulk; a failed warm-up only leaves its round trip to the first write.
    warmBulkRouting([containers.ledger, containers.lines]).catch(() => undefined),
  ]);
  const budgetStore = new CosmosBudgetStore(containers.budget);
  const ledger = new CosmosUsageLedger(containers.ledger);
  const rollups = new CosmosRollupStore(containers.rollups);
  const jobSpend = new CosmosJobSpendStore(containers.jobs);
  // Beside the rate budget's documents (decision 0013).
  const spendBudgets = new CosmosSpendBudgetStore(containers.budget);
  const deployments = new Deployments(
    config.phi3.deployments.map((d) => ({
      name: d.name,
      model: d.model,
      chat: new Phi3ChatClient({
        endpoint: d.endpoint,
        apiKey: d.apiKey,
        apiVersion: config.phi3.apiVersion,
        // A call's own limit (fitted to its generation) replaces this one; it stays for calls without.
        timeoutInMs: config.phi3.timeoutInMs,
        connections: config.phi3.maxConcurrency,
      }),
      limiter: createLimiter(config, d, budgetStore),
      tokenCounter: createTokenCounter(d.model),
      requestLimits: { contextLength: d.contextLength, tokensPerMinute: d.tokensPerMinute },
    })),
  );
  const fairShare = new CosmosFairShareStore(containers.budget);
  const backlogs = new AzureBlobBacklogs(blobService, config.outputContainer);
  const workQueueDepth = new AzureQueueDepth(queueService.getQueueClient(config.requestQueue));
  const limitsOf = deploymentLimits(config);
  const feedDeps = (logger: Logger): FeedDeps => ({
    backlogs,
    requestQueue,
    workQueueDepth,
    fairShare,
    clock: systemClock,
    logger,
    limitsOf,
    requestsPerMessage: config.limits.maxRequestsPerMessage,
    newFeedId: randomUUID,
  });
  const feed = (deployment: string, options: FeedOptions = {}) =>
    feedWork(feedDeps(consoleLogger), deployment, options);
  const scheduling = { backlogs, fairShare, feed };
  const scheduleViews = new FairShareScheduleViews(
    fairShare,
    systemClock,
    limitsOf,
    config.limits.maxRequestsPerMessage,
  );
  const telemetry = await startMetrics(env, config);
  for (const d of config.phi3.deployments) {
    telemetry.metrics.setDeploymentLimits(d.name, {
      requestsPerMinute: d.requestsPerMinute,
      tokensPerMinute: d.tokensPerMinute,
    });
  }
  const resultParts = new ResultParts(blobs, config.outputContainer, () =>
    randomUUID().replaceAll('-', '').slice(0, 16),
  );
  const files = new AzureFileStore(blobService, config.inputContainer);
  const newHex32 = (): string => randomUUID().replaceAll('-', '');
  const webhookTarget = config.webhook;
  const webhookSender = new FetchWebhookSender();
  const finalizeDeps = (logger: Logger): FinalizeDeps => ({
    jobs,
    clock: systemClock,
    logger,
    outputContainer: config.outputContainer,
    ledger,
    rollups,
    resultParts,
    onFinal: (job) => queueFinalEvent(job, { controlQueue, target: webhookTarget }),
  });
  // Built once per process: its shared reads and call slots serve every work message it runs.
  const workerDeps = buildWorkerDeps(
    {
      jobs,
      blobs,
      requestQueue,
      controlQueue,
      deployments,
      ledger,
      jobSpend,
      resultParts,
      clock: systemClock,
      random: Math.random,
      sleep: (delayInMs) => sleep(delayInMs),
      newCallId: randomUUID,
      responseCache: { store: new CosmosResponseCache(containers.cache), policy: config.responseCache },
      metrics: telemetry.metrics,
      timers: {
        setTimeout: (callback, delayInMs) => setTimeout(callback, delayInMs).unref(),
        clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
      },
      budgeting: {
        budgets: config.budgets,
        store: spendBudgets,
        sender: webhookSender,
        target: webhookTarget,
      },
      // The job's last lines are done here: finalising here spares it a trip through the control queue.
      finalizeInline: (jobId, logger) => finalizeJob(jobId, finalizeDeps(logger)),
      feed,
    },
    {
      retry: config.retry,
      prices: config.prices,
      defaultMaxTokens: config.phi3.defaultMaxTokens,
      returnUnusedTokens: config.phi3.returnUnusedTokens,
      concurrency: {
        maxConcurrency: config.phi3.maxConcurrency,
        deployments: config.phi3.deployments,
        budgetUtilization: config.phi3.budgetUtilization,
        requestsPerMessage: config.limits.maxRequestsPerMessage,
      },
      // PHI3_TIMEOUT_MS is the shortest limit and the time to first token allowed before the deployment's
      // speed is measured; a call that may write more gets the time its tokens need.
      timeLimits: {
        ...DEFAULT_CALL_TIME_LIMIT_OPTIONS,
        minimumInMs: config.phi3.timeoutInMs,
        maxFirstTokenInMs: config.phi3.timeoutInMs,
      },
      streamMode: config.phi3.streamMode,
    },
  );

  return {
    config,
    jobs,
    blobs,
    requestQueue,
    controlQueue,
    deployments,
    ledger,
    rollups,
    spendBudgets,
    clock: systemClock,
    resultParts,
    files,
    schedule: scheduleViews,
    fairShare,
    tendDeps: (logger) => ({ ...feedDeps(logger), jobs }),
    filesDeps: () => ({ files, jobs, blobs, clock: systemClock, newHex32, maxFileBytes: MAX_UPLOAD_BYTES }),
    batchesDeps: () => ({
      jobs,
      files,
      controlQueue,
      deployments,
      clock: systemClock,
      newHex32,
      outputContainer: config.outputContainer,
      windowLimits: config.completionWindow,
      defaultMaxCostInNanos: config.defaultMaxCostPerJobInNanos,
      fairShare,
    }),
    webhookDeps: (logger) => ({
      jobs,
      controlQueue,
      clock: systemClock,
      logger,
      sender: webhookSender,
      target: webhookTarget,
    }),
    ingestDeps: (logger) => ({
      jobs,
      blobs,
      requestQueue,
      controlQueue,
      deployments,
      clock: systemClock,
      logger,
      defaultMaxTokens: config.phi3.defaultMaxTokens,
      maxLineBytes: config.limits.maxLineBytes,
      maxLinesPerFile: config.limits.maxLinesPerFile,
      packing: { maxMessageBytes: MAX_MESSAGE_BYTES, maxItemsPerMessage: config.limits.maxRequestsPerMessage },
      stateContainer: config.outputContainer,
      chunkLines: config.limits.ingestChunkLines,
      exactTokenLines: config.limits.ingestExactTokenLines,
      prices: config.prices,
      defaultMaxCostInNanos: config.defaultMaxCostPerJobInNanos,
      windowLimits: config.completionWindow,
      resultParts,
      scheduling,
    }),
    workerDeps,
    finalizeDeps,
    retentionDeps: (logger) => ({ jobs, blobs, clock: systemClock, logger, outputContainer: config.outputContainer }),
    close: async () => {
      await Promise.all(deployments.all.map((d) => d.chat.close()));
      await telemetry.shutdown();
      cosmosClient.dispose();
    },
  };
}

/**
 * The budget's figures to Application Insights when `APPLICATIONINSIGHTS_CONNECTION_STRING` is set
 * (signed in with the app's identity, `AZURE_CLIENT_ID`: the component has local auth disabled),
 * nowhere otherwise. The exporter is loaded only when used.
 */
async function startMetrics(
  env: Env,
  config: AppConfig,
): Promise<{ readonly metrics: Metrics; shutdown(): Promise<void> }> {
  const connectionString = env.APPLICATIONINSIGHTS_CONNECTION_STRING;
  if (connectionString === undefined || connectionString === '') {
    return { metrics: noMetrics, shutdown: async () => undefined };
  }
  const { startAzureMonitorMetrics } = await import('./adapters/telemetry/azureMonitorMetrics.js');
  return startAzureMonitorMetrics({ connectionString, credential: createAzureCredential(config.cosmos.clientId) });
}

const consoleLogger: Logger = { info: console.info, warn: console.warn, error: console.error };

/** Each deployment's limits as its shared budget applies them: what the fair shares are shares of. */
function deploymentLimits(config: AppConfig): (deployment: string) => DeploymentLimits {
  const utilization = config.phi3.budgetUtilization;
  const byName = new Map(config.phi3.deployments.map((d) => [d.name, d]));
  const primary = config.phi3.deployments[0]!;
  return (deployment) => {
    const d = byName.get(deployment) ?? primary;
    return { requestsPerMinute: d.requestsPerMinute * utilization, tokensPerMinute: d.tokensPerMinute * utilization };
  };
}

function createLimiter(config: AppConfig, deployment: DeploymentConfig, store: BudgetStore): RateLimiter {
  const limits = { requestsPerMinute: deployment.requestsPerMinute, tokensPerMinute: deployment.tokensPerMinute };
  if (config.phi3.budgetScope === 'instance') {
    return new LocalRateLimiter({ limits, utilization: config.phi3.budgetUtilization }, systemClock);
  }
  return new SharedRateLimiter({
    deploymentId: deployment.name,
    rates: scheduleRates(limits, config.phi3.budgetUtilization),
    sliceInMs: config.phi3.budgetSliceInMs,
    store,
    clock: systemClock,
    timers: {
      setTimeout: (callback, delayInMs) => setTimeout(callback, delayInMs),
      clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
    },
    logger: { info: console.info, warn: console.warn, error: console.error },
  });
}

let shared: Promise<Services> | undefined;

/** One set of services per process, built on first use from the app settings. */
export function getServices(): Promise<Services> {
  shared ??= createServices(process.env).catch((error: unknown) => {
    shared = undefined;
    throw error;
  });
  return shared;
}

export async function closeServices(): Promise<void> {
  const current = shared;
  shared = undefined;
  // Services that failed to build have nothing to close (their failure went to whoever awaited them).
  const services = await current?.catch(() => undefined);
  await services?.close();
}
