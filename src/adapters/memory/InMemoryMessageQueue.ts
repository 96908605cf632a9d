import type { MessageQueue } from '../../app/ports.js';

/** Records what was sent, decoded, with its delay: enough for use-case tests to drive the next step. */
export class InMemoryMessageQueue implements MessageQueue {
  readonly sent: Array<{ payload: unknown; visibilityDelayInMs: number }> = [];

  async send(payloads: readonly unknown[], options: { visibilityDelayInMs?: number } = {}): Promise<void> {
    for (const payload of payloads) {
      this.sent.push({
        payload: JSON.parse(JSON.stringify(payload)) as unknown,
        visibilityDelayInMs: options.visibilityDelayInMs ?? 0,
      });
    }
  }

  async ensureExists(): Promise<void> {}

  /** Removes and returns everything sent so far. */
  drain(): unknown[] {
    return this.sent.splice(0, this.sent.length).map((m) => m.payload);
  }
}
