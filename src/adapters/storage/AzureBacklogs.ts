import { RestError, type QueueClient, type QueueServiceClient } from '@azure/storage-queue';
import type { BacklogMessage, Backlogs } from '../../app/ports.js';
import { payloadJson } from '../../core/requestMessage.js';

const SEND_CONCURRENCY = 32;
/** Azure's queue names: 3-63 characters. The prefix is cut so that the job's 32 hex digits always fit. */
const MAX_PREFIX = 63 - 33;
/** Azure's most messages per receive. */
const MAX_RECEIVE = 32;

/** The backlog queue of a job: `<prefix>-<the job id's 32 hex digits>`. */
export function backlogQueueName(prefix: string, jobId: string): string {
  const hex = jobId
    .replace(/^job_/, '')
    .toLowerCase()
    .replace(/[^0-9a-z]/g, '');
  return `${prefix.slice(0, MAX_PREFIX).replace(/-+$/, '')}-${hex.slice(0, 32)}`;
}

/** One Storage queue per job (decision 0012), created by the first send, deleted when the job leaves. */
export class AzureBacklogs implements Backlogs {
  readonly #created = new Set<string>();

  constructor(
    private readonly service: QueueServiceClient,
    private readonly prefix: string,
  ) {}

  #queue(jobId: string): QueueClient {
    return this.service.getQueueClient(backlogQueueName(this.prefix, jobId));
  }

  async send(jobId: string, payloads: readonly unknown[]): Promise<void> {
    const queue = this.#queue(jobId);
    if (!this.#created.has(queue.name)) {
      await queue.createIfNotExists();
      this.#created.add(queue.name);
    }
    // Base64 as the work queue carries them: a message moves across unchanged.
    const texts = payloads.map((p) => Buffer.from(payloadJson(p)).toString('base64'));
    for (let start = 0; start < texts.length; start += SEND_CONCURRENCY) {
      await Promise.all(texts.slice(start, start + SEND_CONCURRENCY).map((text) => queue.sendMessage(text)));
    }
  }

  async receive(jobId: string, max: number, leaseInMs: number): Promise<BacklogMessage[]> {
    const queue = this.#queue(jobId);
    const wanted = Math.max(1, Math.min(MAX_RECEIVE, max));
    try {
      const response = await queue.receiveMessages({
        numberOfMessages: wanted,
        visibilityTimeout: Math.max(1, Math.ceil(leaseInMs / 1000)),
      });
      return response.receivedMessageItems.map((m) => ({
        payload: JSON.parse(Buffer.from(m.messageText, 'base64').toString('utf8')) as unknown,
        dequeueCount: m.dequeueCount,
        receipt: { messageId: m.messageId, popReceipt: m.popReceipt },
      }));
    } catch (error) {
      if (isNotFound(error)) return [];
      throw error;
    }
  }

  async remove(jobId: string, message: BacklogMessage): Promise<void> {
    try {
      await this.#queue(jobId).deleteMessage(message.receipt.messageId, message.receipt.popReceipt);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  async approximateCount(jobId: string): Promise<number> {
    try {
      return (await this.#queue(jobId).getProperties()).approximateMessagesCount ?? 0;
    } catch (error) {
      if (isNotFound(error)) return 0;
      throw error;
    }
  }

  async drop(jobId: string): Promise<void> {
    const queue = this.#queue(jobId);
    this.#created.delete(queue.name);
    await queue.deleteIfExists();
  }
}

/** The work queue's depth, as the service counts it: messages out of sight (leased, delayed) included. */
export class AzureQueueDepth {
  constructor(private readonly queue: QueueClient) {}

  async approximateCount(): Promise<number> {
    return (await this.queue.getProperties()).approximateMessagesCount ?? 0;
  }
}

function isNotFound(error: unknown): boolean {
  return error instanceof RestError && error.statusCode === 404;
}
