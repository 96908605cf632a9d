export const InvocationOutcome = {
  succeeded: 'succeeded',
  failed: 'failed',
  timedOut: 'timedOut',
} as const;
export type InvocationOutcome = (typeof InvocationOutcome)[keyof typeof InvocationOutcome];

/** What happened to a queue message after its invocation. */
export const QueueDisposition = {
  deleted: 'deleted',
  /** Made visible again after host.json `visibilityTimeout`. */
  retryScheduled: 'retryScheduled',
  /** Copied to `<queue>-poison` and deleted. */
  poisoned: 'poisoned',
  /** The host could not settle the message (e.g. its lease was lost); it will reappear by itself. */
  abandoned: 'abandoned',
} as const;
export type QueueDisposition = (typeof QueueDisposition)[keyof typeof QueueDisposition];

export const BlobDisposition = {
  completed: 'completed',
  /** The receipt stays open; a later poll (by any host) tries again. */
  retryPending: 'retryPending',
  /** Reported to `webjobs-blobtrigger-poison` and closed. */
  poisoned: 'poisoned',
} as const;
export type BlobDisposition = (typeof BlobDisposition)[keyof typeof BlobDisposition];

export type TriggerDetails =
  | { readonly type: 'http'; readonly method: string; readonly path: string; readonly status: number }
  | {
      readonly type: 'queue';
      readonly queueName: string;
      readonly messageId: string;
      readonly dequeueCount: number;
      readonly disposition: QueueDisposition;
      /** Server-computed time the message becomes visible again (retryScheduled only). */
      readonly nextVisibleOn?: Date;
    }
  | {
      readonly type: 'blob';
      readonly containerName: string;
      readonly blobName: string;
      readonly etag: string;
      /** 1-based try number for this blob version. */
      readonly attempt: number;
      readonly disposition: BlobDisposition;
    }
  | { readonly type: 'timer'; readonly isPastDue: boolean; readonly scheduledFor?: Date }
  | { readonly type: 'manual' };

export interface InvocationEvent {
  readonly functionName: string;
  readonly invocationId: string;
  readonly outcome: InvocationOutcome;
  readonly startedAt: Date;
  readonly durationInMs: number;
  readonly error?: Error;
  readonly trigger: TriggerDetails;
}

export type InvocationListener = (event: InvocationEvent) => void;

/** Minimal synchronous fan-out; a throwing listener is reported, never allowed to break the host. */
export class InvocationEvents {
  readonly #listeners = new Set<InvocationListener>();
  readonly #onListenerError: (error: unknown) => void;

  constructor(onListenerError: (error: unknown) => void) {
    this.#onListenerError = onListenerError;
  }

  subscribe(listener: InvocationListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  emit(event: InvocationEvent): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }
}
