import type { ChatCompletionBody } from '../core/chat.js';
import type { Job } from '../core/job.js';
import type { LineError } from '../core/lineErrors.js';
import { costInNanos, priceFor, utcDay, type ModelPrice } from '../core/pricing.js';
import { spendingCapError } from '../core/spendingCap.js';
import type { Deployment } from './deployments.js';
import type { Logger } from './Logger.js';
import type { Clock, JobSpendStore, LedgerEntry, UsageLedger } from './ports.js';
import { PRICE_HORIZON_IN_MS } from './tuning.js';

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

/**
 * The most a call may cost: prompt + max_tokens at the price it may be billed at. A call is priced on
 * the day it is answered: close to midnight, the dearer of the two days. Unpriced calls are recorded
 * at 0, so they cannot move a cap or a budget either.
 */
export function worstCaseCostInNanos(
  prices: readonly ModelPrice[],
  deployment: Deployment,
  body: ChatCompletionBody,
  nowInMs: number,
): number {
  const promptTokens = deployment.tokenCounter.countChatPrompt(body.messages);
  return Math.max(
    0,
    ...[utcDay(nowInMs), utcDay(nowInMs + PRICE_HORIZON_IN_MS)].map((day) => {
      const price = priceFor(prices, deployment.model, day);
      return price === undefined ? 0 : costInNanos(price, promptTokens, body.max_tokens ?? 0);
    }),
  );
}

/**
 * Keeps one job's spend for the lines of one work message: reserves each call's maximum cost against
 * the cap and writes its ledger entry before it is sent, settles the entry when the endpoint answers,
 * and moves the reservations to the real cost on the job once per message (`flush`). A crash in
 * between leaves reservations in place: the cap can only be undercut, never passed.
 */
export class JobSpendMeter {
  readonly #jobId: string;
  readonly #capInNanos: number | undefined;
  readonly #currency: string;
  readonly #deps: JobSpendDeps;
  #pending = { costInNanos: 0, calls: 0, releaseInNanos: 0, unconfirmedCalls: 0 };
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
    const amount = worstCaseCostInNanos(this.#deps.prices, deployment, body, now);
    if (await this.#deps.jobSpend.reserve(this.#jobId, amount, cap)) return { amountInNanos: amount };
    if (!this.#stopped) {
      this.#stopped = true;
      await this.#deps.jobSpend.markCapReached(this.#jobId, now);
      this.#deps.logger.warn(`Job ${this.#jobId}: spending cap reached; no more lines are sent`);
    }
    return undefined;
  }

  /**
   * Before the request leaves: its ledger entry, state `sent`. From here on a crash, a timeout or a
   * lost answer leaves the call counted (unconfirmed) instead of unseen.
   */
  async open(entry: LedgerEntry): Promise<void> {
    await this.#deps.ledger.record(entry);
  }

  /** A billed answer: the ledger entry settled first (the source of truth), then the job's live counters. */
  async bill(reservation: SpendReservation, entry: LedgerEntry): Promise<void> {
    await this.#deps.ledger.settle(entry);
    this.#pending.costInNanos += entry.costInNanos;
    this.#pending.calls += 1;
    this.#pending.releaseInNanos += reservation.amountInNanos;
  }

  /** An answer that shows the call was not billed (429, 4xx, 5xx): its entry goes, its reservation is given back. */
  async notBilled(reservation: SpendReservation, entry: LedgerEntry): Promise<void> {
    await this.#deps.ledger.discard(entry.jobId, entry.id);
    this.#pending.releaseInNanos += reservation.amountInNanos;
  }

  /** A reservation given back before its call was written ahead (a budget refused the call). */
  release(reservation: SpendReservation): void {
    this.#pending.releaseInNanos += reservation.amountInNanos;
  }

  /**
   * No answer (timeout, broken connection): the call may have been billed, so its entry stays `sent`
   * and its reservation stays held: the cap can be undercut, never passed.
   */
  unconfirmed(): void {
    this.#pending.calls += 1;
    this.#pending.unconfirmedCalls += 1;
  }

  /** The job's live counters, once for the whole message (the ledger already has every call). */
  async flush(): Promise<void> {
    const settlement = this.#pending;
    if (settlement.costInNanos === 0 && settlement.calls === 0 && settlement.releaseInNanos === 0) return;
    this.#pending = { costInNanos: 0, calls: 0, releaseInNanos: 0, unconfirmedCalls: 0 };
    await this.#deps.jobSpend.settle(this.#jobId, settlement);
  }
}
