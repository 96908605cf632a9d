import {
  addPendingFeed,
  leadTarget,
  livePendingFeeds,
  planFeeds,
  removePendingFeed,
  returnUnfed,
  tokensPerRequest,
  bindingTokensPerMinute,
  type FairShareState,
  type FeedPick,
} from '../core/fairShare.js';
import type { Logger } from './Logger.js';
import type {
  BacklogMessage,
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
  /** The endpoint's latency at a high percentile as the caller (a worker) measured it; kept for the other feeders. */
  readonly latencyInMs?: number | undefined;
}

export interface FeedReport {
  readonly fed: number;
  /** Messages picked that the backlogs did not have (their charge was taken back). */
  readonly unfed: number;
  /** Messages of cancelled jobs moved for their outcomes. */
  readonly drained: number;
}

/**
 * Tops the work queue up to the lead target with the next messages in weighted-fair order (decision
 * 0012). Each message moves at least once: received from its backlog under a lease, sent to the work
 * queue, then removed; a feeder that dies in between leaves it to reappear in the backlog, and a
 * message sent twice is one the worker finds done. Concurrent feeders see each other's picks as
 * pending; what they can overfeed is bounded by one feed (FEED_MAX_MESSAGES) each.
 */
export async function feedWork(deps: FeedDeps, deployment: string, options: FeedOptions = {}): Promise<FeedReport> {
  const [outstanding, quick] = await Promise.all([
    deps.workQueueDepth.approximateCount(),
    deps.fairShare.read(deployment),
  ]);
  const drained = await drainCancelled(quick, deps);
  const limits = deps.limitsOf(deployment);
  if (roomFor(quick, outstanding, limits, deps, options) <= 0) return { fed: 0, unfed: 0, drained };
  const feedId = deps.newFeedId();
  const picks = await deps.fairShare.update(deployment, (state) =>
    planTurn(state, outstanding, feedId, limits, deps, options),
  );
  if (picks.length === 0) return { fed: 0, unfed: 0, drained };
  const byJob = groupByJob(picks);
  const moved = await Promise.all([...byJob].map(([jobId, jobPicks]) => moveMessages(jobId, jobPicks.length, deps)));
  const unfedByJob = new Map<string, FeedPick[]>();
  [...byJob].forEach(([jobId, jobPicks], index) => {
    const short = jobPicks.slice(moved[index]);
    if (short.length > 0) unfedByJob.set(jobId, short);
  });
  await deps.fairShare.update(deployment, (state) => {
    const nowInMs = deps.clock.nowInMs();
    let next = removePendingFeed(state, feedId, nowInMs);
    for (const [jobId, short] of unfedByJob) next = returnUnfed(next, jobId, short, { nowInMs });
    return { state: next, result: undefined };
  });
  const fed = moved.reduce((sum, n) => sum + n, 0);
  return { fed, unfed: picks.length - fed, drained };
}

/**
 * Cancelled jobs' backlogs go to the work queue uncharged, a bounded number per feed: the worker gives
 * each of their lines its `batch_cancelled` outcome without a call, as it does for any message of a
 * cancelled job. Their backlogs are dropped once empty (see tendFairShare).
 */
async function drainCancelled(
  state: FairShareState,
  deps: Pick<FeedDeps, 'backlogs' | 'requestQueue'>,
): Promise<number> {
  const cancelling = Object.entries(state.jobs).filter(([, job]) => job.cancelling === true);
  const moved = await Promise.all(cancelling.map(([jobId]) => moveMessages(jobId, FEED_DRAIN_MESSAGES, deps)));
  return moved.reduce((sum, n) => sum + n, 0);
}

/** Within one conditional write: notes the latency, picks what fits the lead, and records the picks as pending. */
function planTurn(
  state: FairShareState,
  outstanding: number,
  feedId: string,
  limits: DeploymentLimits,
  deps: FeedDeps,
  options: FeedOptions,
): { state: FairShareState; result: readonly FeedPick[] } {
  const nowInMs = deps.clock.nowInMs();
  const noted = options.latencyInMs === undefined ? state : { ...state, latencyInMs: options.latencyInMs };
  const room = Math.min(FEED_MAX_MESSAGES, roomFor(noted, outstanding, limits, deps, options));
  if (room <= 0) return { state: noted, result: [] };
  const tokensPerMinute = bindingTokensPerMinute(noted, limits, deps.requestsPerMessage);
  const plan = planFeeds(noted, room, { nowInMs, tokensPerMinute });
  if (plan.picks.length === 0) return { state: noted, result: [] };
  const pending = { id: feedId, messages: plan.picks.length, untilInMs: nowInMs + FEED_LEASE_IN_MS };
  return { state: addPendingFeed(plan.state, pending, nowInMs), result: plan.picks };
}

/** Messages the work queue can take now: the lead target less what is outstanding and what other feeders picked. */
function roomFor(
  state: FairShareState,
  outstanding: number,
  limits: DeploymentLimits,
  deps: Pick<FeedDeps, 'requestsPerMessage' | 'clock'>,
  options: FeedOptions,
): number {
  const pending = livePendingFeeds(state, deps.clock.nowInMs()).reduce((sum, f) => sum + f.messages, 0);
  const lead = leadTarget({
    ...limits,
    tokensPerRequest: tokensPerRequest(state, deps.requestsPerMessage),
    latencyInMs: options.latencyInMs ?? state.latencyInMs ?? 1_000,
    requestsPerMessage: deps.requestsPerMessage,
    marginInMs: FEED_MARGIN_IN_MS,
    minimumMessages: FEED_MIN_LEAD_MESSAGES,
  });
  return lead - outstanding - pending;
}

function groupByJob(picks: readonly FeedPick[]): Map<string, FeedPick[]> {
  const byJob = new Map<string, FeedPick[]>();
  for (const pick of picks) byJob.set(pick.jobId, [...(byJob.get(pick.jobId) ?? []), pick]);
  return byJob;
}

/**
 * The message as the work queue gets it. One received from the backlog before may have reached the work
 * queue already (its feeder died before removing it): it loses its `firstSend` mark, so that the worker
 * looks up which of its lines are done instead of calling for them again.
 */
function workPayload(message: BacklogMessage): unknown {
  const { payload } = message;
  if (message.dequeueCount <= 1 || typeof payload !== 'object' || payload === null || !('firstSend' in payload)) {
    return payload;
  }
  const { firstSend: _repeated, ...rest } = payload as Record<string, unknown>;
  return rest;
}

/** Moves up to `count` messages of the job's backlog to the work queue; returns how many it moved. */
export async function moveMessages(
  jobId: string,
  count: number,
  deps: Pick<FeedDeps, 'backlogs' | 'requestQueue'>,
): Promise<number> {
  let moved = 0;
  while (moved < count) {
    const received = await deps.backlogs.receive(jobId, count - moved, FEED_LEASE_IN_MS);
    if (received.length === 0) break;
    await deps.requestQueue.send(received.map(workPayload));
    await Promise.all(received.map((m) => deps.backlogs.remove(jobId, m)));
    moved += received.length;
  }
  return moved;
}
