import type { BacklogRead, Backlogs } from '../../app/ports.js';
import { backlogText, parseBacklogLines } from '../../core/backlogLines.js';

/** Backlogs in one process, as append-only byte logs: for use-case tests. */
export class InMemoryBacklogs implements Backlogs {
  readonly #logs = new Map<string, Buffer>();

  async send(jobId: string, payloads: readonly unknown[]): Promise<void> {
    const log = this.#logs.get(jobId) ?? Buffer.alloc(0);
    this.#logs.set(jobId, Buffer.concat([log, Buffer.from(backlogText(payloads))]));
  }

  async read(jobId: string, fromOffset: number, maxBytes: number): Promise<BacklogRead> {
    const log = this.#logs.get(jobId) ?? Buffer.alloc(0);
    let size = maxBytes;
    for (;;) {
      const messages = parseBacklogLines(log.subarray(fromOffset, fromOffset + size), fromOffset);
      if (messages.length > 0 || fromOffset + size >= log.length) return { messages, length: log.length };
      size *= 2;
    }
  }

  async length(jobId: string): Promise<number> {
    return this.#logs.get(jobId)?.length ?? 0;
  }

  async drop(jobId: string): Promise<void> {
    this.#logs.delete(jobId);
  }

  /** Jobs that have a backlog. */
  get jobIds(): string[] {
    return [...this.#logs.keys()];
  }
}
