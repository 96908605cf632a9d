import type { Container, OperationInput } from '@azure/cosmos';
import { BULK_LIMIT, runBulk } from './runBulk.js';

/**
 * How long the first write of a batch waits for others to join it. A write-ahead waits for the budget
 * after it anyway, and a settlement only for its message to end: 20 ms costs a call nothing, and at
 * 400 calls a second (two writes each) gathers about 16 writes a request.
 */
const LINGER_IN_MS = 20;

interface PendingWrite {
  readonly operation: OperationInput;
  readonly resolve: (status: number) => void;
  readonly reject: (error: Error) => void;
}

/**
 * Single writes issued close together (a worker's calls are admitted in bursts and answered in
 * streams) go to Cosmos as one bulk request instead of one request each. Each caller still gets
 * its own write's status; request units are the same, round trips and per-request work are not.
 */
export class CosmosBulkWriter {
  readonly #container: Container;
  #pending: PendingWrite[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(container: Container) {
    this.#container = container;
  }

  /** Resolves with the write's HTTP status (201, 200, 204, 409, 404, ...); rejects only if the bulk request itself failed. */
  write(operation: OperationInput): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ operation, resolve, reject });
      // A full bulk request goes at once.
      if (this.#pending.length >= BULK_LIMIT) this.#flush();
      else this.#timer ??= setTimeout(() => this.#flush(), LINGER_IN_MS);
    });
  }

  #flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return;
    runBulk(
      this.#container,
      batch.map((w) => w.operation),
    ).then(
      (statuses) => batch.forEach((write, index) => write.resolve(statuses[index]!)),
      (error: unknown) => {
        const failure = error instanceof Error ? error : new Error(String(error));
        for (const write of batch) write.reject(failure);
      },
    );
  }
}
