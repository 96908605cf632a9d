import type { BlobItem, BlockBlobClient, ContainerClient } from '@azure/storage-blob';
import type { QueueClient } from '@azure/storage-queue';
import pLimit, { type LimitFunction } from 'p-limit';
import type { BlobPathPattern } from './blobPath.js';
import { ensureError, hasStatusCode } from './errors.js';
import { BlobDisposition, type InvocationEvent } from './events.js';
import type { Invoker } from './Invoker.js';
import type { LocalFunction } from './localFunction.js';
import { LogLevel, type LocalHostLogger } from './logger.js';
import { createBlobModelBindingData, createClientFromModelBindingData } from './modelBindingData.js';
import { TaskTracker, WakeableSleep } from './polling.js';

export const blobReceiptsContainerName = 'azure-webjobs-hosts';
export const blobPoisonQueueName = 'webjobs-blobtrigger-poison';
/** Tries per blob version before it is reported as poison (the real host's default). */
export const maxBlobTries = 5;
const receiptLeaseInSeconds = 30;

export interface BlobListenerOptions {
  readonly fn: LocalFunction;
  readonly pattern: BlobPathPattern;
  readonly container: ContainerClient;
  /** The binding's connection setting name, handed to the app in ModelBindingData. */
  readonly connectionName: string;
  /** `supportsDeferredBinding`: pass ModelBindingData through the library's resolver, not the bytes. */
  readonly deferred: boolean;
  /** `azure-webjobs-hosts` in the host storage account. */
  readonly receipts: ContainerClient;
  readonly poisonQueue: QueueClient;
  /** Encodes poison messages like the host's queue encoding. */
  readonly encodeMessage: (text: string) => string;
  readonly hostId: string;
  readonly pollIntervalInMs: number;
  readonly maxDegreeOfParallelism: number;
  readonly invoker: Invoker;
  readonly logger: LocalHostLogger;
  readonly emit: (event: InvocationEvent) => void;
  readonly tracker: TaskTracker;
}

export interface BlobPollResult {
  /** Blob versions this poll tried to deliver (including ones another host turned out to own). */
  readonly candidates: number;
}

const isCompletedKey = 'iscompleted';
const attemptsKey = 'attempts';

/** Listings return ETags bare, headers quote them; use the quoted form everywhere, like the host. */
function quotedEtag(etag: string): string {
  return etag.startsWith('"') ? etag : `"${etag}"`;
}

function readMetadata(metadata: Record<string, string> | undefined, key: string): string | undefined {
  for (const [name, value] of Object.entries(metadata ?? {})) {
    if (name.toLowerCase() === key) {
      return value;
    }
  }
  return undefined;
}

/**
 * Delivers each new blob version (name + ETag) once across every host sharing the storage account, using
 * blob receipts like the real host: `azure-webjobs-hosts/blobreceipts/<hostId>/<functionId>/<etag>/<container>/<name>`,
 * created with If-None-Match: * and worked under a lease. Failed versions are retried by later polls up to
 * five tries, then reported to `webjobs-blobtrigger-poison`.
 */
export class BlobListener {
  readonly #options: BlobListenerOptions;
  readonly #sleep = new WakeableSleep();
  readonly #abort = new AbortController();
  readonly #limit: LimitFunction;
  /** Versions whose receipt is complete: never looked at again by this host. */
  readonly #done = new Set<string>();
  readonly #inProgress = new Set<string>();
  #running = false;
  #loop: Promise<void> | undefined;

  constructor(options: BlobListenerOptions) {
    this.#options = options;
    this.#limit = pLimit(options.maxDegreeOfParallelism);
  }

  get functionId(): string {
    return `Host.Functions.${this.#options.fn.name}`;
  }

  async prepare(): Promise<void> {
    await this.#options.receipts.createIfNotExists();
  }

  startPolling(): void {
    if (this.#running) {
      return;
    }
    this.#running = true;
    this.#loop = this.#runLoop();
  }

  async stopPolling(): Promise<void> {
    this.#running = false;
    this.#abort.abort();
    this.#sleep.wake();
    await this.#loop;
  }

  /** Lists the container now and resolves once every candidate found is settled. */
  async pollNow(): Promise<BlobPollResult> {
    const tasks = await this.#scan();
    await Promise.all(tasks);
    return { candidates: tasks.length };
  }

  async #runLoop(): Promise<void> {
    while (this.#running) {
      try {
        // The candidates found run on: the tracker holds them and stopping waits for them.
        // eslint-disable-next-line @typescript-eslint/no-floating-promises
        await this.#scan();
      } catch (error) {
        if (!this.#running) {
          break;
        }
        this.#options.logger.log({
          level: LogLevel.warning,
          category: 'host',
          functionName: this.#options.fn.name,
          error: ensureError(error),
          message: `Scanning container "${this.#options.pattern.containerName}" failed; trying again.`,
        });
      }
      if (this.#running) {
        await this.#sleep.sleep(this.#options.pollIntervalInMs);
      }
    }
  }

  async #scan(): Promise<Promise<void>[]> {
    const { container, pattern, tracker } = this.#options;
    const tasks: Promise<void>[] = [];
    try {
      for await (const item of container.listBlobsFlat({
        prefix: pattern.prefix === '' ? undefined : pattern.prefix,
        includeMetadata: true,
        abortSignal: this.#abort.signal,
      })) {
        const bindingData = pattern.match(item.name);
        const key = `${item.name}\n${quotedEtag(item.properties.etag)}`;
        if (!bindingData || this.#done.has(key) || this.#inProgress.has(key)) {
          continue;
        }
        this.#inProgress.add(key);
        const task = this.#limit(() => this.#deliver(item, bindingData, key)).finally(() => {
          this.#inProgress.delete(key);
        });
        tasks.push(tracker.track(task));
      }
    } catch (error) {
      // A container that does not exist yet simply has no blobs to deliver.
      if (!hasStatusCode(error, 404)) {
        throw error;
      }
    }
    return tasks;
  }

  async #deliver(item: BlobItem, bindingData: Record<string, string>, key: string): Promise<void> {
    try {
      await this.#deliverVersion(item, bindingData, key);
    } catch (error) {
      // Background work has no caller to reject to: report it; the receipt stays open for a later poll.
      this.#options.logger.log({
        level: LogLevel.error,
        category: 'host',
        functionName: this.#options.fn.name,
        error: ensureError(error),
        message: `Delivering blob "${this.#options.pattern.containerName}/${item.name}" failed before or after the invocation.`,
      });
    }
  }

  #receiptFor(item: BlobItem): BlockBlobClient {
    const { hostId, pattern, receipts } = this.#options;
    // ETag before the blob name: blob names may contain slashes.
    const name = `blobreceipts/${hostId}/${this.functionId}/${quotedEtag(item.properties.etag)}/${pattern.containerName}/${item.name}`;
    return receipts.getBlockBlobClient(name);
  }

  async #deliverVersion(item: BlobItem, bindingData: Record<string, string>, key: string): Promise<void> {
    const { fn, logger } = this.#options;
    const receipt = this.#receiptFor(item);
    try {
      await receipt.upload('', 0, {
        metadata: { IsCompleted: 'false', Attempts: '0' },
        conditions: { ifNoneMatch: '*' },
      });
    } catch (error) {
      if (!hasStatusCode(error, 409, 412)) {
        throw error;
      }
    }
    const seen = await receipt.getProperties();
    if (readMetadata(seen.metadata, isCompletedKey) === 'true') {
      this.#done.add(key);
      return;
    }
    const lease = receipt.getBlobLeaseClient();
    try {
      await lease.acquireLease(receiptLeaseInSeconds);
    } catch (error) {
      if (hasStatusCode(error, 409)) {
        // Another host holds it; if that host dies, its lease lapses and a later poll takes over.
        return;
      }
      throw error;
    }
    const leaseId = lease.leaseId;
    const renewal = setInterval(
      () => {
        lease.renewLease().catch((error: unknown) => {
          logger.log({
            level: LogLevel.warning,
            category: 'host',
            functionName: fn.name,
            error: ensureError(error),
            message: `Could not renew the receipt lease for blob "${item.name}"; another instance may run it too.`,
          });
        });
      },
      (receiptLeaseInSeconds * 1000) / 2,
    );
    try {
      const current = await receipt.getProperties({ conditions: { leaseId } });
      if (readMetadata(current.metadata, isCompletedKey) === 'true') {
        this.#done.add(key);
        return;
      }
      const previousTries = Number(readMetadata(current.metadata, attemptsKey) ?? '0') || 0;
      if (previousTries >= maxBlobTries) {
        // Tries ran out while a host was down between its last failure and poisoning.
        await this.#poison(item);
        await receipt.setMetadata(
          { IsCompleted: 'true', Attempts: String(previousTries), Poisoned: 'true' },
          { conditions: { leaseId } },
        );
        this.#done.add(key);
        return;
      }
      const attempt = previousTries + 1;
      await receipt.setMetadata({ IsCompleted: 'false', Attempts: String(attempt) }, { conditions: { leaseId } });

      const result = await this.#invoke(item, bindingData);
      let disposition: BlobDisposition = BlobDisposition.completed;
      if (!result.error) {
        await receipt.setMetadata({ IsCompleted: 'true', Attempts: String(attempt) }, { conditions: { leaseId } });
        this.#done.add(key);
      } else if (attempt >= maxBlobTries) {
        await this.#poison(item);
        await receipt.setMetadata(
          { IsCompleted: 'true', Attempts: String(attempt), Poisoned: 'true' },
          { conditions: { leaseId } },
        );
        this.#done.add(key);
        disposition = BlobDisposition.poisoned;
      } else {
        disposition = BlobDisposition.retryPending;
      }
      this.#options.emit({
        functionName: fn.name,
        invocationId: result.invocationId,
        outcome: result.outcome,
        startedAt: result.startedAt,
        durationInMs: result.durationInMs,
        error: result.error,
        trigger: {
          type: 'blob',
          containerName: this.#options.pattern.containerName,
          blobName: item.name,
          etag: quotedEtag(item.properties.etag),
          attempt,
          disposition,
        },
      });
    } finally {
      clearInterval(renewal);
      await lease.releaseLease().catch((error: unknown) => {
        logger.log({
          level: LogLevel.warning,
          category: 'host',
          functionName: fn.name,
          error: ensureError(error),
          message: `Could not release the receipt lease for blob "${item.name}"; it lapses in ${receiptLeaseInSeconds} s.`,
        });
      });
    }
  }

  async #invoke(item: BlobItem, bindingData: Record<string, string>): ReturnType<Invoker['invoke']> {
    const { fn, container, pattern, deferred, connectionName, invoker } = this.#options;
    const blob = container.getBlobClient(item.name);
    const { properties } = item;
    return invoker.invoke(fn, {
      resolveInput: () =>
        deferred
          ? createClientFromModelBindingData(
              createBlobModelBindingData(connectionName, pattern.containerName, item.name),
            )
          : blob.downloadToBuffer(),
      triggerMetadata: {
        ...bindingData,
        blobTrigger: `${pattern.containerName}/${item.name}`,
        uri: blob.url,
        properties: {
          eTag: quotedEtag(properties.etag),
          length: properties.contentLength,
          contentType: properties.contentType,
          createdOn: properties.createdOn?.toISOString(),
          lastModified: properties.lastModified.toISOString(),
          blobType: properties.blobType,
        },
        metadata: item.metadata ?? {},
      },
      reason: `New blob detected(${deferred ? 'EventGrid' : 'LogsAndContainerScan'}): ${pattern.containerName}/${item.name}`,
    });
  }

  async #poison(item: BlobItem): Promise<void> {
    const { poisonQueue, encodeMessage, pattern, logger, fn } = this.#options;
    await poisonQueue.createIfNotExists();
    const message = {
      Type: 'BlobTrigger',
      FunctionId: this.functionId,
      BlobType: 'BlockBlob',
      ContainerName: pattern.containerName,
      BlobName: item.name,
      ETag: quotedEtag(item.properties.etag),
    };
    await poisonQueue.sendMessage(encodeMessage(JSON.stringify(message)));
    logger.log({
      level: LogLevel.warning,
      category: 'host',
      functionName: fn.name,
      message: `Blob "${pattern.containerName}/${item.name}" (ETag ${quotedEtag(item.properties.etag)}) failed ${maxBlobTries} times; reported to queue "${poisonQueue.name}".`,
    });
  }
}
