import type { BacklogMessage, Backlogs } from '../../app/ports.js';

interface Held {
  readonly id: string;
  readonly payload: unknown;
  visibleAtInMs: number;
  popReceipt: string;
  dequeueCount: number;
}

/** Backlogs in one process, leases included, on an injected clock: for use-case tests. */
export class InMemoryBacklogs implements Backlogs {
  readonly #queues = new Map<string, Held[]>();
  #next = 0;

  constructor(private readonly clock: { nowInMs(): number }) {}

  async send(jobId: string, payloads: readonly unknown[]): Promise<void> {
    const queue = this.#queues.get(jobId) ?? [];
    this.#queues.set(jobId, queue);
    for (const payload of payloads) {
      queue.push({
        id: `m${this.#next++}`,
        payload: JSON.parse(JSON.stringify(payload)),
        visibleAtInMs: 0,
        popReceipt: '',
        dequeueCount: 0,
      });
    }
  }

  async receive(jobId: string, max: number, leaseInMs: number): Promise<BacklogMessage[]> {
    const now = this.clock.nowInMs();
    const visible = (this.#queues.get(jobId) ?? []).filter((m) => m.visibleAtInMs <= now).slice(0, max);
    return visible.map((m) => {
      m.visibleAtInMs = now + leaseInMs;
      m.popReceipt = `p${this.#next++}`;
      m.dequeueCount += 1;
      return {
        payload: m.payload,
        dequeueCount: m.dequeueCount,
        receipt: { messageId: m.id, popReceipt: m.popReceipt },
      };
    });
  }

  async remove(jobId: string, message: BacklogMessage): Promise<void> {
    const queue = this.#queues.get(jobId);
    if (queue === undefined) return;
    const index = queue.findIndex(
      (m) => m.id === message.receipt.messageId && m.popReceipt === message.receipt.popReceipt,
    );
    if (index >= 0) queue.splice(index, 1);
  }

  async approximateCount(jobId: string): Promise<number> {
    return this.#queues.get(jobId)?.length ?? 0;
  }

  async drop(jobId: string): Promise<void> {
    this.#queues.delete(jobId);
  }

  /** Jobs that have a backlog. */
  get jobIds(): string[] {
    return [...this.#queues.keys()];
  }
}
