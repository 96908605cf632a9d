import type { ChatCompletionBody } from '../core/chat.js';
import type { RollupKey } from '../core/costReport.js';
import type { Job } from '../core/job.js';
import type { LineError } from '../core/lineErrors.js';
import { costInNanos, priceFor, utcDay, type ModelPrice } from '../core/pricing.js';
import { spendingCapError } from '../core/spendingCap.js';
import type { Deployment } from './deployments.js';
import type { Logger } from './Logger.js';
import type { Clock, JobSpendStore, LedgerEntry, UsageLedger } from './ports.js';

export interface JobSpendDeps {
  readonly ledger: UsageLedger;
  readonly jobSpend: JobSpendStore;
  readonly prices: readonly ModelPrice[];
  readonly clock: Clock;
  readonly logger: Logger;
}

/** The most a call may cost, held against the job's cap while it is in flight. */
export interface SpendReservation {
  readonly amountInNanos: number;
}

const NO_RESERVATION: SpendReservation = { amountInNanos: 0 };
/** Longer than any call takes to be answered (queueing for a call slot included). */
const PRICE_HORIZON_IN_MS = 3_600_000;

/**
 * Keeps one job's spend for the lines of one work message: reserves each call's maximum cost against
 * the cap before it is sent, and once the endpoint answers writes the ledger entry, then moves the
 * reservation to the real cost. A crash in between leaves the reservation in place: the cap can only
 * be undercut, never passed. Also remembers which (day, model) rollups the recorded calls touched.
 */
export class JobSpendMeter {
  readonly #jobId: string;
  readonly #capInNanos: number | undefined;
  readonly #currency: string;
  readonly #deps: JobSpendDeps;
  readonly #touched = new Map<string, RollupKey>();
  #stopped: boolean;

  constructor(job: Job, deps: JobSpendDeps) {
    this.#jobId = job.id;
    this.#capInNanos = job.maxCostInNanos;
    this.#currency = job.costEstimate?.currency ?? 'USD';
    this.#deps = deps;
    this.#stopped = job.maxCostInNanos !== undefined && job.spend?.capReachedAtInMs !== undefined;
  }

  /** The cap was reached: send nothing more for this job. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** The error of a line not sent because of the cap. */
  get refusal(): LineError {
    return spendingCapError(this.#capInNanos ?? 0, this.#currency);
  }

  /**
   * Before a call: reserves its maximum cost (prompt + max_tokens at the price it may be billed at) if
   * it fits under the cap; undefined if it does not, and from then on the job is stopped. Free for
   * uncapped jobs.
   */
  async reserve(deployment: Deployment, body: ChatCompletionBody): Promise<SpendReservation | undefined> {
    const cap = this.#capInNanos;
    if (cap === undefined) return NO_RESERVATION;
    if (this.#stopped) return undefined;
    const now = this.#deps.clock.nowInMs();
    const promptTokens = deployment.tokenCounter.countChatPrompt(body.messages);
    // A call is priced on the day it is answered: close to midnight, hold the dearer of the two days.
    // Unpriced calls are recorded at 0, so they cannot move the cap either.
    const amount = Math.max(
      0,
      ...[utcDay(now), utcDay(now + PRICE_HORIZON_IN_MS)].map((day) => {
        const price = priceFor(this.#deps.prices, deployment.model, day);
        return price === undefined ? 0 : costInNanos(price, promptTokens, body.max_tokens ?? 0);
      }),
    );
    if (await this.#deps.jobSpend.reserve(this.#jobId, amount, cap)) return { amountInNanos: amount };
    if (!this.#stopped) {
      this.#stopped = true;
      await this.#deps.jobSpend.markCapReached(this.#jobId, now);
      this.#deps.logger.warn(`Job ${this.#jobId}: spending cap reached; no more lines are sent`);
    }
    return undefined;
  }

  /** A billed call: the ledger entry first (the source of truth), then the job's live counters. */
  async record(reservation: SpendReservation, entry: LedgerEntry): Promise<void> {
    const created = await this.#deps.ledger.record(entry);
    this.#touched.set(`${entry.day}|${entry.model}`, { day: entry.day, model: entry.model });
    await this.#deps.jobSpend.settle(this.#jobId, {
      costInNanos: created ? entry.costInNanos : 0,
      calls: created ? 1 : 0,
      releaseInNanos: reservation.amountInNanos,
    });
  }

  /** A call that was not billed (or not made): its reservation is given back. */
  async release(reservation: SpendReservation): Promise<void> {
    if (reservation.amountInNanos > 0) await this.#deps.jobSpend.settle(this.#jobId, { costInNanos: 0, calls: 0, releaseInNanos: reservation.amountInNanos });
  }

  /** The (day, model) keys of the calls recorded through this meter. */
  get touchedKeys(): RollupKey[] {
    return [...this.#touched.values()];
  }
}
