import type { BlockBlobClient } from '@azure/storage-blob';
import { ensureError, hasStatusCode } from './errors.js';
import type { InvocationEvent } from './events.js';
import type { Invoker } from './Invoker.js';
import type { LocalFunction } from './localFunction.js';
import { LogLevel, type LocalHostLogger } from './logger.js';
import type { TaskTracker } from './polling.js';
import type { TimerSchedule } from './timerSchedule.js';

export interface TimerListenerOptions {
  readonly fn: LocalFunction;
  readonly schedule: TimerSchedule;
  readonly runOnStartup: boolean;
  readonly useMonitor: boolean;
  /**
   * `azure-webjobs-hosts/timers/<hostId>/<functionId>/status`, written with ETag conditions so that one
   * occurrence runs on one host only. Undefined without host storage: every host fires.
   */
  readonly statusBlob: BlockBlobClient | undefined;
  readonly invoker: Invoker;
  readonly logger: LocalHostLogger;
  readonly emit: (event: InvocationEvent) => void;
  readonly tracker: TaskTracker;
}

/** The status blob's JSON, as the real host's ScheduleMonitor writes it. */
interface ScheduleStatus {
  readonly Last: string;
  readonly Next: string;
  readonly LastUpdated: string;
}

interface StatusSnapshot {
  readonly value: ScheduleStatus;
  readonly etag: string;
}

/** Longest setTimeout Node accepts; longer waits re-arm. */
const maxTimerDelayInMs = 2 ** 31 - 1;
const neverRun = '0001-01-01T00:00:00.000Z';

export class TimerListener {
  readonly #options: TimerListenerOptions;
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(options: TimerListenerOptions) {
    this.#options = options;
  }

  async start(): Promise<void> {
    this.#running = true;
    let status: StatusSnapshot | undefined;
    try {
      status = this.#options.useMonitor ? await this.#readStatus() : undefined;
    } catch (error) {
      // Missed-occurrence detection is best effort; the schedule itself must still run.
      this.#options.logger.log({
        level: LogLevel.warning,
        category: 'host',
        functionName: this.#options.fn.name,
        error: ensureError(error),
        message: 'Could not read the timer status; past-due occurrences are not detected this time.',
      });
    }
    const now = new Date();
    if (status && new Date(status.value.Next) < now) {
      // The host was down when an occurrence was due: run it now, flagged as past due.
      void this.#options.tracker.track(this.#fire(new Date(status.value.Next), true));
    }
    if (this.#options.runOnStartup) {
      void this.#options.tracker.track(this.#run(now, false, undefined));
    }
    this.#scheduleNext();
  }

  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Runs the function now, outside the schedule (no status update), and reports how it went. */
  invokeNow(): Promise<InvocationEvent> {
    return this.#options.tracker.track(this.#run(new Date(), false, undefined));
  }

  #scheduleNext(): void {
    if (!this.#running) {
      return;
    }
    const next = this.#options.schedule.next(new Date());
    const arm = (): void => {
      const delay = next.getTime() - Date.now();
      this.#timer = setTimeout(
        () => {
          if (!this.#running) {
            return;
          }
          if (Date.now() < next.getTime()) {
            arm();
            return;
          }
          void this.#options.tracker.track(this.#fire(next, false)).finally(() => this.#scheduleNext());
        },
        Math.min(Math.max(delay, 0), maxTimerDelayInMs),
      );
    };
    arm();
  }

  async #fire(occurrence: Date, isPastDue: boolean): Promise<InvocationEvent | undefined> {
    try {
      const status = await this.#claim(occurrence);
      if (status === 'taken') {
        return undefined;
      }
      return await this.#run(occurrence, isPastDue, status);
    } catch (error) {
      this.#options.logger.log({
        level: LogLevel.error,
        category: 'host',
        functionName: this.#options.fn.name,
        error: ensureError(error),
        message: `The timer occurrence at ${occurrence.toISOString()} could not run.`,
      });
      return undefined;
    }
  }

  /** Marks the occurrence as ours in the status blob; 'taken' when another host got there first. */
  async #claim(occurrence: Date): Promise<ScheduleStatus | 'taken' | undefined> {
    const blob = this.#options.statusBlob;
    if (!blob) {
      return undefined;
    }
    const current = await this.#readStatus();
    if (current && new Date(current.value.Last) >= occurrence) {
      return 'taken';
    }
    const status: ScheduleStatus = {
      Last: occurrence.toISOString(),
      Next: this.#options.schedule.next(occurrence).toISOString(),
      LastUpdated: new Date().toISOString(),
    };
    const text = JSON.stringify(status);
    try {
      await blob.upload(text, Buffer.byteLength(text), {
        conditions: current ? { ifMatch: current.etag } : { ifNoneMatch: '*' },
        blobHTTPHeaders: { blobContentType: 'application/json' },
      });
    } catch (error) {
      if (hasStatusCode(error, 409, 412)) {
        return 'taken';
      }
      throw error;
    }
    return { ...status, Last: current?.value.Last ?? neverRun };
  }

  /** The status blob and its ETag, or undefined when there is none (or no host storage). */
  async #readStatus(): Promise<StatusSnapshot | undefined> {
    const blob = this.#options.statusBlob;
    if (!blob) {
      return undefined;
    }
    try {
      const response = await blob.download();
      const chunks: Buffer[] = [];
      for await (const chunk of response.readableStreamBody ?? []) {
        chunks.push(chunk as Buffer);
      }
      const value = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ScheduleStatus;
      return { value, etag: response.etag ?? '' };
    } catch (error) {
      if (hasStatusCode(error, 404)) {
        return undefined;
      }
      throw error;
    }
  }

  async #run(scheduledFor: Date, isPastDue: boolean, status: ScheduleStatus | undefined): Promise<InvocationEvent> {
    const { fn, schedule, invoker } = this.#options;
    const now = new Date();
    const result = await invoker.invoke(fn, {
      input: {
        isPastDue,
        schedule: { adjustForDST: true },
        scheduleStatus: {
          last: status?.Last ?? neverRun,
          next: status?.Next ?? schedule.next(now).toISOString(),
          lastUpdated: status?.LastUpdated ?? now.toISOString(),
        },
      },
      reason: `Timer fired at ${now.toISOString()}`,
    });
    const event: InvocationEvent = {
      functionName: fn.name,
      invocationId: result.invocationId,
      outcome: result.outcome,
      startedAt: result.startedAt,
      durationInMs: result.durationInMs,
      error: result.error,
      trigger: { type: 'timer', isPastDue, scheduledFor },
    };
    this.#options.emit(event);
    return event;
  }
}
