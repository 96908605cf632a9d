import type { QueueClient } from '@azure/storage-queue';
import type { MessageQueue } from '../../app/ports.js';
import { payloadJson } from '../../core/requestMessage.js';

/** Azure's ceiling on a message's visibility delay. */
const MAX_VISIBILITY_DELAY_IN_SECONDS = 7 * 24 * 3600;
const SEND_CONCURRENCY = 32;

export class AzureMessageQueue implements MessageQueue {
  constructor(private readonly queue: QueueClient) {}

  get name(): string {
    return this.queue.name;
  }

  async send(payloads: readonly unknown[], options: { visibilityDelayInMs?: number } = {}): Promise<void> {
    const delay = options.visibilityDelayInMs;
    const visibilityTimeout =
      delay === undefined || delay <= 0
        ? undefined
        : Math.min(MAX_VISIBILITY_DELAY_IN_SECONDS, Math.ceil(delay / 1000));
    // The Functions queue trigger decodes base64 by default (host.json messageEncoding).
    const texts = payloads.map((p) => Buffer.from(payloadJson(p)).toString('base64'));
    for (let start = 0; start < texts.length; start += SEND_CONCURRENCY) {
      await Promise.all(
        texts
          .slice(start, start + SEND_CONCURRENCY)
          .map((text) => this.queue.sendMessage(text, visibilityTimeout === undefined ? {} : { visibilityTimeout })),
      );
    }
  }

  async ensureExists(): Promise<void> {
    await this.queue.createIfNotExists();
  }
}
