import type { DequeuedMessageItem, QueueClient } from '@azure/storage-queue';
import { ensureError, hasStatusCode } from './errors.js';
import { QueueDisposition, type InvocationEvent } from './events.js';
import type { QueueHostSettings } from './hostJson.js';
import type { Invoker } from './Invoker.js';
import type { LocalFunction } from './localFunction.js';
import { LogLevel, type LocalHostLogger } from './logger.js';
import { Backoff, Signal, TaskTracker, WakeableSleep } from './polling.js';
import { decodeQueueMessage, toTriggerValue } from './queueMessages.js';

export interface QueueListenerOptions {
  readonly fn: LocalFunction;
  readonly queue: QueueClient;
  readonly poisonQueue: QueueClient;
  readonly settings: QueueHostSettings;
  readonly invoker: Invoker;
  readonly logger: LocalHostLogger;
  readonly emit: (event: InvocationEvent) => void;
  /** How long a received message stays invisible while its invocation runs; renewed at half-time. */
  readonly leaseInMs: number;
  readonly tracker: TaskTracker;
}

export interface QueuePollResult {
  readonly received: number;
}

const minPollingIntervalInMs = 100;

/**
 * One queue-triggered function: receive up to batchSize, run them concurrently, fetch again once the
 * number running drops to newBatchThreshold; back off up to maxPollingInterval while the queue is empty.
 * Settles each message like the host: delete on success, re-show after visibilityTimeout on failure,
 * `<queue>-poison` once dequeueCount reaches maxDequeueCount.
 */
export class QueueListener {
  readonly #options: QueueListenerOptions;
  readonly #sleep = new WakeableSleep();
  readonly #slotFreed = new Signal();
  readonly #abort = new AbortController();
  readonly #backoff: Backoff;
  #running = false;
  #loop: Promise<void> | undefined;
  #active = 0;
  #poisonQueueReady: Promise<unknown> | undefined;

  constructor(options: QueueListenerOptions) {
    this.#options = options;
    this.#backoff = new Backoff(minPollingIntervalInMs, options.settings.maxPollingIntervalInMs);
  }

  get queueName(): string {
    return this.#options.queue.name;
  }

  async prepare(): Promise<void> {
    // The real host creates the queue it listens to.
    await this.#options.queue.createIfNotExists();
  }

  startPolling(): void {
    if (this.#running) {
      return;
    }
    this.#running = true;
    this.#loop = this.#runLoop();
  }

  /** Stops fetching; messages already received keep running (the host drains them). */
  async stopPolling(): Promise<void> {
    this.#running = false;
    this.#abort.abort();
    this.#sleep.wake();
    this.#slotFreed.notify();
    await this.#loop;
  }

  /** Receives one batch now and resolves once those messages are settled. */
  async pollNow(): Promise<QueuePollResult> {
    const tasks = await this.#receiveAndDispatch();
    await Promise.all(tasks);
    return { received: tasks.length };
  }

  async #runLoop(): Promise<void> {
    const { settings, logger, fn } = this.#options;
    while (this.#running) {
      if (this.#active > settings.newBatchThreshold) {
        await this.#slotFreed.wait();
        continue;
      }
      let received = 0;
      try {
        received = (await this.#receiveAndDispatch()).length;
      } catch (error) {
        if (!this.#running) {
          break;
        }
        logger.log({
          level: LogLevel.warning,
          category: 'host',
          functionName: fn.name,
          error: ensureError(error),
          message: `Polling queue "${this.queueName}" failed; retrying after back-off.`,
        });
      }
      if (received > 0) {
        this.#backoff.reset();
        continue;
      }
      if (this.#running) {
        await this.#sleep.sleep(this.#backoff.next());
      }
    }
  }

  async #receiveAndDispatch(): Promise<Promise<void>[]> {
    const { queue, settings, leaseInMs, tracker } = this.#options;
    const response = await queue.receiveMessages({
      numberOfMessages: settings.batchSize,
      visibilityTimeout: toSeconds(leaseInMs),
      abortSignal: this.#abort.signal,
    });
    return response.receivedMessageItems.map((message) => tracker.track(this.#process(message)));
  }

  async #process(message: DequeuedMessageItem): Promise<void> {
    this.#active += 1;
    try {
      await this.#processMessage(message);
    } catch (error) {
      // Background work has no caller to reject to: report it; the message reappears when its lease ends.
      this.#options.logger.log({
        level: LogLevel.error,
        category: 'host',
        functionName: this.#options.fn.name,
        error: ensureError(error),
        message: `Processing message ${message.messageId} from queue "${this.queueName}" failed.`,
      });
    } finally {
      this.#active -= 1;
      this.#slotFreed.notify();
    }
  }

  async #processMessage(message: DequeuedMessageItem): Promise<void> {
    const { fn, queue, settings, invoker, logger, leaseInMs } = this.#options;
    const decoded = decodeQueueMessage(message.messageText, settings.messageEncoding);
    if (decoded === undefined) {
      logger.log({
        level: LogLevel.error,
        category: 'host',
        functionName: fn.name,
        message: `Message ${message.messageId} on queue "${this.queueName}" is not valid ${settings.messageEncoding}; moving it to the poison queue.`,
      });
      await this.#poison(message, message.popReceipt);
      return;
    }

    let popReceipt = message.popReceipt;
    let renewing: Promise<void> = Promise.resolve();
    // Keep the message invisible while a long invocation runs, like the host's visibility renewal.
    const renewal = setInterval(
      () => {
        renewing = queue
          .updateMessage(message.messageId, popReceipt, undefined, toSeconds(leaseInMs))
          .then((response) => {
            popReceipt = response.popReceipt ?? popReceipt;
          })
          .catch((error: unknown) => {
            logger.log({
              level: LogLevel.warning,
              category: 'host',
              functionName: fn.name,
              error: ensureError(error),
              message: `Could not extend the lease on message ${message.messageId}; another instance may receive it.`,
            });
          });
      },
      Math.max(1_000, leaseInMs / 2),
    );

    const result = await invoker.invoke(fn, {
      input: toTriggerValue(decoded),
      triggerMetadata: {
        id: message.messageId,
        dequeueCount: message.dequeueCount,
        insertionTime: message.insertedOn.toISOString(),
        expirationTime: message.expiresOn.toISOString(),
        nextVisibleTime: message.nextVisibleOn.toISOString(),
        popReceipt: message.popReceipt,
        queueTrigger: decoded,
      },
      reason: `New queue message detected on '${this.queueName}'.`,
    });
    clearInterval(renewal);
    await renewing;

    let disposition: QueueDisposition = QueueDisposition.deleted;
    let nextVisibleOn: Date | undefined;
    try {
      if (!result.error) {
        await queue.deleteMessage(message.messageId, popReceipt);
      } else if (message.dequeueCount >= settings.maxDequeueCount) {
        await this.#poison(message, popReceipt);
        disposition = QueueDisposition.poisoned;
      } else {
        const updated = await queue.updateMessage(
          message.messageId,
          popReceipt,
          undefined,
          toSeconds(settings.visibilityTimeoutInMs),
        );
        disposition = QueueDisposition.retryScheduled;
        nextVisibleOn = updated.nextVisibleOn;
      }
    } catch (error) {
      disposition = QueueDisposition.abandoned;
      logger.log({
        level: LogLevel.warning,
        category: 'host',
        functionName: fn.name,
        invocationId: result.invocationId,
        error: ensureError(error),
        message: hasStatusCode(error, 404)
          ? `Message ${message.messageId} was no longer ours to settle (lease lost); it will be delivered again.`
          : `Could not settle message ${message.messageId}; it becomes visible again when its lease ends.`,
      });
    }
    this.#options.emit({
      functionName: fn.name,
      invocationId: result.invocationId,
      outcome: result.outcome,
      startedAt: result.startedAt,
      durationInMs: result.durationInMs,
      error: result.error,
      trigger: {
        type: 'queue',
        queueName: this.queueName,
        messageId: message.messageId,
        dequeueCount: message.dequeueCount,
        disposition,
        nextVisibleOn,
      },
    });
  }

  async #poison(message: DequeuedMessageItem, popReceipt: string): Promise<void> {
    const { poisonQueue, logger, fn } = this.#options;
    this.#poisonQueueReady ??= poisonQueue.createIfNotExists().catch((error: unknown) => {
      this.#poisonQueueReady = undefined;
      throw error;
    });
    await this.#poisonQueueReady;
    // The original text, still encoded, so the poison message can be re-queued as is.
    await poisonQueue.sendMessage(message.messageText);
    await this.#options.queue.deleteMessage(message.messageId, popReceipt);
    logger.log({
      level: LogLevel.warning,
      category: 'host',
      functionName: fn.name,
      message: `Message ${message.messageId} has reached MaxDequeueCount of ${this.#options.settings.maxDequeueCount}; moved to queue "${poisonQueue.name}".`,
    });
  }
}

/** Queue visibility is whole seconds; never round a non-zero delay down to 0. */
function toSeconds(ms: number): number {
  return Math.ceil(ms / 1000);
}
