import {
  addPendingFeed,
  bindingTokensPerMinute,
  claimTo,
  hasWork,
  leadTarget,
  markExhausted,
  pendingMessages,
  planFeeds,
  queuedTimeInMs,
  removePendingFeed,
  tokensPerRequest,
  type FairShareJob,
  type FairShareState,
  type FeedRange,
  type ShareContext,
} from '../core/fairShare.js';
import type { Logger } from './Logger.js';
import type {
  BacklogMessage,
  BacklogRead,
  Backlogs,
  Clock,
  DeploymentLimits,
  FairShareStore,
  MessageQueue,
  QueueDepth,
} from './ports.js';
import {
  FEED_DRAIN_MESSAGES,
  FEED_LEASE_IN_MS,
  FEED_MARGIN_IN_MS,
  FEED_MAX_MESSAGES,
  FEED_MIN_LEAD_MESSAGES,
  FEED_READ_BYTES,
  FEED_READ_SPARE_MESSAGES,
} from './tuning.js';

/** What the feeder needs: the backlogs, the work queue and its depth, the shared fair-share state. */
export interface FeedDeps {
  readonly backlogs: Backlogs;
  readonly requestQueue: MessageQueue;
  readonly workQueueDepth: QueueDepth;
  readonly fairShare: FairShareStore;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The deployment's limits, as the budget applies them (utilisation included). */
  readonly limitsOf: (deployment: string) => DeploymentLimits;
  readonly requestsPerMessage: number;
  readonly newFeedId: () => string;
}

export interface FeedOptions {
  /** The time a message is held, as the caller (a worker) measured it (decision 0012); kept for the other feeders. */
  readonly latencyInMs?: number | undefined;
  /**
   * Messages the caller holds whose lines a heavier job's lines overtake: outstanding, but not using the
   * budget, so they do not count against the lead (the caller's own feed makes room for them).
   */
  readonly heldBackMessages?: number | undefined;
}

export interface FeedReport {
  readonly fed: number;
  /** Messages of cancelled jobs moved for their outcomes. */
  readonly drained: number;
}

/** A job's backlog as read before the feed's write: whole messages from `from`. */
interface JobRead extends BacklogRead {
  readonly from: number;
}

/** What one feed claimed of one job's backlog, with the messages in the range. */
interface Claim extends FeedRange {
  readonly payloads: readonly unknown[];
  readonly charged: boolean;
}

const NOTHING: FeedReport = { fed: 0, drained: 0 };

/**
 * Tops the work queue up to the lead target with the next messages in weighted-fair order (decision
 * 0012). The feed claims its ranges of the backlogs in the state with one conditional write, as a
 * pending feed, before it sends; it clears the pending feed once the messages are in the work queue. A
 * feeder that dies in between leaves the pending feed, and the timer sends its ranges again (a message
 * sent twice is one the worker finds done). Concurrent feeders never claim the same range.
 */
export async function feedWork(deps: FeedDeps, deployment: string, options: FeedOptions = {}): Promise<FeedReport> {
  const [outstanding, quick] = await Promise.all([
    deps.workQueueDepth.approximateCount(),
    deps.fairShare.read(deployment),
  ]);
  const limits = deps.limitsOf(deployment);
  const room = roomFor(quick, outstanding, limits, deps, options);
  const cancelling = Object.keys(quick.jobs).filter((id) => quick.jobs[id]!.cancelling === true);
  const wanted =
    room > 0
      ? jobsToRead(quick, room, shareContext(quick, outstanding, limits, deps, options))
      : new Map<string, number>();
  for (const jobId of cancelling) wanted.set(jobId, FEED_DRAIN_MESSAGES);
  if (wanted.size === 0) return NOTHING;
  const reads = await readBacklogs(quick, wanted, deps.backlogs);
  const feedId = deps.newFeedId();
  const claims = await deps.fairShare.update(deployment, (state) =>
    planTurn(state, { outstanding, feedId, limits, reads }, deps, options),
  );
  if (claims.length === 0) return NOTHING;
  await deps.requestQueue.send(claims.flatMap((c) => c.payloads));
  await deps.fairShare.update(deployment, (state) => ({
    state: removePendingFeed(state, feedId, deps.clock.nowInMs()),
    result: undefined,
  }));
  const count = (charged: boolean) =>
    claims.filter((c) => c.charged === charged).reduce((sum, c) => sum + c.payloads.length, 0);
  return { fed: count(true), drained: count(false) };
}

/** How many messages a feed of `room` would take from each job now (the write decides again on the latest state). */
function jobsToRead(state: FairShareState, room: number, context: ShareContext): Map<string, number> {
  const plan = planFeeds(state, Math.min(FEED_MAX_MESSAGES, room), context);
  const counts = new Map<string, number>();
  for (const pick of plan.picks) counts.set(pick.jobId, (counts.get(pick.jobId) ?? 0) + 1);
  return counts;
}

async function readBacklogs(state: FairShareState, wanted: ReadonlyMap<string, number>, backlogs: Backlogs) {
  const reads = new Map<string, JobRead>();
  await Promise.all(
    [...wanted].map(async ([jobId, count]) => {
      const job = state.jobs[jobId];
      const from = job?.offset ?? 0;
      reads.set(jobId, { from, ...(await backlogs.read(jobId, from, readSize(job, count))) });
    }),
  );
  return reads;
}

/**
 * Bytes to read for `count` messages of the job: at the size of those fed so far, with room for a few
 * more (other feeders' picks land in between); at most FEED_READ_BYTES. A read too short for one message
 * reads wider.
 */
function readSize(job: FairShareJob | undefined, count: number): number {
  const offset = job?.offset ?? 0;
  const fed = job?.fedMessages ?? 0;
  if (offset === 0 || fed === 0) return FEED_READ_BYTES;
  return Math.min(FEED_READ_BYTES, Math.ceil((offset / fed) * (count + FEED_READ_SPARE_MESSAGES)));
}

/**
 * The messages of a read the state has not claimed yet: those from the job's offset in the state, if
 * the read saw it (another feeder may have claimed past the read); and whether they run to the backlog's end.
 */
function unclaimed(read: JobRead | undefined, offset: number): { messages: BacklogMessage[]; toEnd: boolean } {
  if (read === undefined) return { messages: [], toEnd: false };
  const index = offset === read.from ? 0 : read.messages.findIndex((m) => m.endOffset === offset) + 1;
  if (index <= 0 && offset !== read.from) return { messages: [], toEnd: false };
  const messages = read.messages.slice(index);
  const end = messages.length === 0 ? offset : messages[messages.length - 1]!.endOffset;
  return { messages, toEnd: end >= read.length };
}

interface Turn {
  readonly outstanding: number;
  readonly feedId: string;
  readonly limits: DeploymentLimits;
  readonly reads: ReadonlyMap<string, JobRead>;
}

/** Within one conditional write: notes the latency, picks what fits the lead, and claims its ranges as a pending feed. */
function planTurn(
  state: FairShareState,
  turn: Turn,
  deps: FeedDeps,
  options: FeedOptions,
): { state: FairShareState; result: readonly Claim[] } {
  const nowInMs = deps.clock.nowInMs();
  let next = options.latencyInMs === undefined ? state : { ...state, latencyInMs: options.latencyInMs };
  const available = new Map<string, ReturnType<typeof unclaimed>>();
  for (const jobId of turn.reads.keys())
    available.set(jobId, unclaimed(turn.reads.get(jobId), next.jobs[jobId]?.offset ?? 0));
  const counts = new Map([...available].map(([jobId, a]) => [jobId, a.messages.length]));
  const room = Math.min(FEED_MAX_MESSAGES, roomFor(next, turn.outstanding, turn.limits, deps, options));
  const picked = new Map<string, number>();
  let weights: ReadonlyMap<string, number> = new Map();
  if (room > 0) {
    const plan = planFeeds(next, room, shareContext(next, turn.outstanding, turn.limits, deps, options), counts);
    next = plan.state;
    weights = plan.weights;
    for (const pick of plan.picks) picked.set(pick.jobId, (picked.get(pick.jobId) ?? 0) + 1);
  }
  const claims: Claim[] = [];
  let drainRoom = drainRoomFor(next, turn.outstanding, nowInMs);
  for (const [jobId, { messages, toEnd }] of available) {
    const job = next.jobs[jobId];
    if (job === undefined) continue;
    const charged = job.cancelling !== true;
    const take = charged ? (picked.get(jobId) ?? 0) : Math.min(drainRoom, messages.length);
    if (!charged) drainRoom -= take;
    if (charged && take === messages.length && toEnd && hasWork(job)) next = markExhausted(next, jobId);
    if (take === 0) continue;
    const from = job.offset ?? 0;
    const to = messages[take - 1]!.endOffset;
    next = claimTo(next, jobId, to);
    const payloads = messages
      .slice(0, take)
      .map((m) => withWeight(m.payload, charged ? weights.get(jobId) : undefined));
    claims.push({ jobId, from, to, charged, payloads });
  }
  if (claims.length === 0) return { state: next, result: [] };
  const pending = {
    id: turn.feedId,
    messages: claims.reduce((sum, c) => sum + c.payloads.length, 0),
    untilInMs: nowInMs + FEED_LEASE_IN_MS,
    ranges: claims.map(({ jobId, from, to }) => ({ jobId, from, to })),
  };
  return { state: addPendingFeed(next, pending, nowInMs), result: claims };
}

/**
 * The rate the shares are reckoned against, and how long a message fed now waits for its answer: behind
 * the outstanding messages and those other feeders picked, then held for the measured time.
 */
function shareContext(
  state: FairShareState,
  outstanding: number,
  limits: DeploymentLimits,
  deps: Pick<FeedDeps, 'requestsPerMessage' | 'clock'>,
  options: FeedOptions,
): ShareContext {
  const nowInMs = deps.clock.nowInMs();
  const tokensPerMinute = bindingTokensPerMinute(state, limits, deps.requestsPerMessage);
  const pending = pendingMessages(state, nowInMs);
  const queuedInMs = queuedTimeInMs({
    outstanding: outstanding + pending,
    requestsPerMessage: deps.requestsPerMessage,
    tokensPerMinute,
    tokensPerRequest: tokensPerRequest(state, deps.requestsPerMessage),
    latencyInMs: latencyOf(state, options),
  });
  return { nowInMs, tokensPerMinute, queuedInMs };
}

/** The time a message is held, as the calling worker measured it or as last reported. */
const latencyOf = (state: FairShareState, options: FeedOptions): number =>
  options.latencyInMs ?? state.latencyInMs ?? 1_000;

/**
 * Cancelled jobs' messages the work queue can take now: they need no call, so the lead does not bound
 * them, but the queue's depth does (FEED_DRAIN_MESSAGES outstanding at most): a deep work queue slows
 * every queue operation on the local stand-in.
 */
function drainRoomFor(state: FairShareState, outstanding: number, nowInMs: number): number {
  const pending = pendingMessages(state, nowInMs);
  return Math.max(0, FEED_DRAIN_MESSAGES - outstanding - pending);
}

/** Messages the work queue can take now: the lead target less what is outstanding and what other feeders picked. */
function roomFor(
  state: FairShareState,
  outstanding: number,
  limits: DeploymentLimits,
  deps: Pick<FeedDeps, 'requestsPerMessage' | 'clock'>,
  options: FeedOptions,
): number {
  const pending = pendingMessages(state, deps.clock.nowInMs());
  const lead = leadTarget({
    ...limits,
    tokensPerRequest: tokensPerRequest(state, deps.requestsPerMessage),
    latencyInMs: latencyOf(state, options),
    requestsPerMessage: deps.requestsPerMessage,
    marginInMs: FEED_MARGIN_IN_MS,
    minimumMessages: FEED_MIN_LEAD_MESSAGES,
  });
  return lead + Math.min(FEED_MAX_MESSAGES, options.heldBackMessages ?? 0) - outstanding - pending;
}

/** The message as sent to the work queue, with the weight it was scheduled at (its lines wait for a slot by it). */
function withWeight(payload: unknown, weight: number | undefined): unknown {
  if (weight === undefined || typeof payload !== 'object' || payload === null) return payload;
  return { ...payload, weight };
}

/**
 * A message sent again: it may have reached the work queue already (its feeder died after sending), so
 * it loses its `firstSend` mark, and the worker looks up which of its lines are done instead of calling
 * for them again.
 */
export function resentPayload(payload: unknown): unknown {
  if (typeof payload !== 'object' || payload === null || !('firstSend' in payload)) return payload;
  const { firstSend: _repeated, ...rest } = payload as Record<string, unknown>;
  return rest;
}

/** The messages of a claimed range, read again from the backlog. */
export async function readRange(backlogs: Backlogs, range: FeedRange): Promise<unknown[]> {
  const payloads: unknown[] = [];
  let offset = range.from;
  while (offset < range.to) {
    const read = await backlogs.read(range.jobId, offset, Math.min(FEED_READ_BYTES, range.to - offset));
    const within = read.messages.filter((m) => m.endOffset <= range.to);
    if (within.length === 0) break;
    payloads.push(...within.map((m) => m.payload));
    offset = within[within.length - 1]!.endOffset;
  }
  return payloads;
}
