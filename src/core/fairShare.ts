/**
 * Weighted fair sharing of one deployment's budget between the jobs that have work (decision 0012).
 *
 * Start-time fair queueing over tokens: every job has a finish tag in virtual time; the next message fed
 * is the one of the job whose start tag, max(system virtual time, its finish tag), is smallest, and
 * feeding a message of `t` estimated tokens moves its finish tag on by t / weight. Jobs of one weight get
 * equal tokens, others in proportion to their weights; a job that arrives (or has work again) starts at
 * the current virtual time, so idle time is never saved up as credit. Pure: time is passed in.
 */

/** Tokens fed in one bucket of recent time, for the share measured over the last minute. */
export interface FedBucket {
  readonly atInMs: number;
  readonly tokens: number;
}

export interface FairShareJob {
  /** The job's priority weight (1..100). */
  readonly weight: number;
  /** Where the job's fed work ends in virtual time. */
  readonly finishTag: number;
  /** Messages and estimated tokens the ingest put in the job's backlog (absolute: a repeat is harmless). */
  readonly ingestMessages: number;
  readonly ingestTokens: number;
  /** Messages and estimated tokens put in the backlog since (retried lines). */
  readonly extraMessages: number;
  readonly extraTokens: number;
  /** Messages and estimated tokens moved from the backlog to the work queue. */
  readonly fedMessages: number;
  readonly fedTokens: number;
  /** The end of the job's completion window, if it has one. */
  readonly deadlineAtInMs?: number | undefined;
  /** Tokens fed per bucket over the last minute, oldest first. */
  readonly recent: readonly FedBucket[];
  /** The job is being cancelled: its backlog is moved out without being charged, for its lines' outcomes. */
  readonly cancelling?: true | undefined;
  /** Bytes of the job's backlog claimed by feeds: the next feed reads on from here (0 when absent). */
  readonly offset?: number | undefined;
}

export interface FairShareState {
  /** The system virtual time: the start tag of the last message fed. */
  readonly virtualTime: number;
  readonly jobs: Readonly<Record<string, FairShareJob>>;
  /** Messages picked by feeders and perhaps not yet in the work queue: later feeders count them as outstanding. */
  readonly pendingFeeds: readonly PendingFeed[];
  /** The endpoint's latency (a high percentile) as last reported by a worker, for the lead target. */
  readonly latencyInMs?: number | undefined;
}

export interface PendingFeed {
  readonly id: string;
  readonly messages: number;
  /**
   * After this the feed no longer counts as outstanding; if it is still here, its feeder died before
   * clearing it and its ranges are sent again (at least once).
   */
  readonly untilInMs: number;
  /** The backlog ranges it claimed, byte offsets per job. */
  readonly ranges?: readonly FeedRange[] | undefined;
}

export interface FeedRange {
  readonly jobId: string;
  readonly from: number;
  readonly to: number;
}

export const EMPTY_FAIR_SHARE: FairShareState = { virtualTime: 0, jobs: {}, pendingFeeds: [] };

/** The deployment's token rate the shares and the deadline boost are reckoned against. */
export interface ShareContext {
  readonly nowInMs: number;
  readonly tokensPerMinute: number;
  /**
   * How long a message fed now waits for its answer: the work queue's outstanding messages at the binding
   * rate, and the time a message is held (see `queuedTimeInMs`). A job behind its window is fed that much
   * earlier (on top of DEADLINE_SLACK_IN_MS); unknown, 0.
   */
  readonly queuedInMs?: number | undefined;
}

export const SHARE_WINDOW_IN_MS = 60_000;
export const SHARE_BUCKET_IN_MS = 5_000;
/** Weights a job's priority may have. */
export const MIN_WEIGHT = 1;
export const MAX_WEIGHT = 100;
/** A job behind its completion window gets the share it needs, but the others keep at least this part of theirs. */
export const DEADLINE_BOOST_KEEPS = 0.5;
/**
 * A job with a window is given the share that feeds its work this long (or a tenth of the time left, if
 * more) before the window closes, on top of the time its last message waits for its answer
 * (`ShareContext.queuedInMs`): the rule's estimates are estimates, and a job starts behind the lead.
 */
export const DEADLINE_SLACK_IN_MS = 10_000;

export function backlogOf(job: FairShareJob): { readonly messages: number; readonly tokens: number } {
  return {
    messages: Math.max(0, job.ingestMessages + job.extraMessages - job.fedMessages),
    tokens: Math.max(0, job.ingestTokens + job.extraTokens - job.fedTokens),
  };
}

/** Whether the job competes for the budget: it has work in its backlog and is not being cancelled. */
export function hasWork(job: FairShareJob): boolean {
  return job.cancelling !== true && backlogOf(job).messages > 0;
}

export interface JobWork {
  readonly weight: number;
  readonly deadlineAtInMs?: number | undefined;
  /** The ingest's totals so far (absolute). */
  readonly ingest?: { readonly messages: number; readonly tokens: number };
  /** Work added on top (retried lines). */
  readonly extra?: { readonly messages: number; readonly tokens: number };
}

/**
 * Records work a job put in its backlog and its current weight. A job that joins, or had no work left,
 * starts at the current virtual time; a weight change counts from the next pick.
 */
export function addWork(state: FairShareState, jobId: string, work: JobWork): FairShareState {
  const known = state.jobs[jobId];
  const base: FairShareJob = known ?? {
    weight: work.weight,
    finishTag: state.virtualTime,
    ingestMessages: 0,
    ingestTokens: 0,
    extraMessages: 0,
    extraTokens: 0,
    fedMessages: 0,
    fedTokens: 0,
    recent: [],
  };
  const idle = !hasWork(base);
  const job: FairShareJob = {
    ...base,
    weight: clampWeight(work.weight),
    finishTag: idle ? Math.max(base.finishTag, state.virtualTime) : base.finishTag,
    ingestMessages: Math.max(base.ingestMessages, work.ingest?.messages ?? 0),
    ingestTokens: Math.max(base.ingestTokens, work.ingest?.tokens ?? 0),
    extraMessages: base.extraMessages + (work.extra?.messages ?? 0),
    extraTokens: base.extraTokens + (work.extra?.tokens ?? 0),
    ...(work.deadlineAtInMs === undefined ? {} : { deadlineAtInMs: work.deadlineAtInMs }),
  };
  return { ...state, jobs: { ...state.jobs, [jobId]: job } };
}

/** A new weight for a job that is scheduled (a priority change); nothing if it is not. */
export function setWeight(state: FairShareState, jobId: string, weight: number): FairShareState {
  const job = state.jobs[jobId];
  if (job === undefined) return state;
  return { ...state, jobs: { ...state.jobs, [jobId]: { ...job, weight: clampWeight(weight) } } };
}

/** The job stops competing: its backlog is drained for cancellation, without charge. */
export function markCancelling(state: FairShareState, jobId: string): FairShareState {
  const job = state.jobs[jobId];
  if (job === undefined || job.cancelling === true) return state;
  return { ...state, jobs: { ...state.jobs, [jobId]: { ...job, cancelling: true } } };
}

/** The job is gone (finished, cancelled, expired): its share goes to the others at the next pick. */
export function leave(state: FairShareState, jobId: string): FairShareState {
  if (state.jobs[jobId] === undefined) return state;
  const { [jobId]: _gone, ...jobs } = state.jobs;
  return { ...state, jobs };
}

/**
 * The weight each job with work is scheduled by: its own, or more if its completion window needs it.
 * A job whose backlog would not be fed before its window closes, as the jobs share now, gets the share
 * it needs, capped so that the other jobs keep at least DEADLINE_BOOST_KEEPS of their weighted share.
 */
export function effectiveWeights(state: FairShareState, context: ShareContext): Map<string, number> {
  const own = new Map<string, number>();
  for (const [id, job] of Object.entries(state.jobs)) if (hasWork(job)) own.set(id, job.weight);
  const weights = new Map<string, number>();
  for (const id of own.keys()) weights.set(id, boostedWeight(state, id, own, context));
  return weights;
}

function boostedWeight(
  state: FairShareState,
  jobId: string,
  own: ReadonlyMap<string, number>,
  context: ShareContext,
): number {
  const job = state.jobs[jobId]!;
  const totalWeight = [...own.values()].reduce((sum, w) => sum + w, 0);
  const others = totalWeight - job.weight;
  if (job.deadlineAtInMs === undefined || others <= 0) return job.weight;
  const untilCloseInMs = job.deadlineAtInMs - context.nowInMs;
  // Past its window the job's unsent lines expire: nothing to catch up.
  if (untilCloseInMs <= 0) return job.weight;
  const slackInMs = Math.max(DEADLINE_SLACK_IN_MS, untilCloseInMs / 10) + (context.queuedInMs ?? 0);
  const timeLeftInMs = untilCloseInMs - slackInMs;
  // The others' work is finite: once it is fed, their share is the job's. Only a job that misses even so is boosted.
  if (timeLeftInMs > 0 && feedTimeInMs(state, jobId, own, context) <= timeLeftInMs) return job.weight;
  const share = job.weight / totalWeight;
  const neededShare =
    timeLeftInMs <= 0 ? 1 : (backlogOf(job).tokens / timeLeftInMs) * (SHARE_WINDOW_IN_MS / context.tokensPerMinute);
  if (neededShare <= share) return job.weight;
  const cap = 1 - DEADLINE_BOOST_KEEPS * (1 - share);
  const granted = Math.min(neededShare, cap);
  return (granted * others) / (1 - granted);
}

/**
 * How long until the job's backlog is fed if the jobs with work (`weights`) go on sharing the binding
 * rate and no other job comes: each job's backlog over its weight goes down at one pace, so by the time
 * the job's is fed every other job has been fed the smaller of its backlog and the job's backlog over
 * the job's weight times its own weight. Jobs that finish first leave their share to the rest.
 */
function feedTimeInMs(
  state: FairShareState,
  jobId: string,
  weights: ReadonlyMap<string, number>,
  context: ShareContext,
): number {
  const perWeight = backlogOf(state.jobs[jobId]!).tokens / weights.get(jobId)!;
  let tokens = 0;
  for (const [id, weight] of weights) tokens += Math.min(backlogOf(state.jobs[id]!).tokens, weight * perWeight);
  return (tokens / context.tokensPerMinute) * SHARE_WINDOW_IN_MS;
}

export interface FeedPlan {
  readonly state: FairShareState;
  /** The job of each message to feed, in order. */
  readonly picks: readonly FeedPick[];
  /** The weight each job with work was scheduled at (its own, or more behind its completion window). */
  readonly weights: ReadonlyMap<string, number>;
}

export interface FeedPick {
  readonly jobId: string;
  readonly tokens: number;
}

/**
 * Picks up to `count` messages in weighted-fair order and charges them: each job's estimated tokens per
 * message is its backlog's tokens over its messages. Cancelling jobs are not picked. With `available`,
 * a job is picked at most that many times (the messages its backlog was read to have).
 */
export function planFeeds(
  state: FairShareState,
  count: number,
  context: ShareContext,
  available?: ReadonlyMap<string, number>,
): FeedPlan {
  const scheduledAt = effectiveWeights(state, context);
  const weights = new Map(scheduledAt);
  const left = new Map(available ?? []);
  if (available !== undefined) for (const id of [...weights.keys()]) if ((left.get(id) ?? 0) <= 0) weights.delete(id);
  let current = state;
  const picks: FeedPick[] = [];
  for (let n = 0; n < count; n += 1) {
    const next = nextJob(current, weights);
    if (next === undefined) break;
    const [jobId, job] = next;
    const backlog = backlogOf(job);
    const tokens = backlog.tokens / backlog.messages;
    const start = Math.max(current.virtualTime, job.finishTag);
    const weight = weights.get(jobId)!;
    const fed: FairShareJob = {
      ...job,
      finishTag: start + tokens / weight,
      fedMessages: job.fedMessages + 1,
      fedTokens: job.fedTokens + tokens,
      recent: addRecent(job.recent, tokens, context.nowInMs),
    };
    current = { ...current, virtualTime: start, jobs: { ...current.jobs, [jobId]: fed } };
    const remaining = (left.get(jobId) ?? 0) - 1;
    left.set(jobId, remaining);
    if (!hasWork(fed) || (available !== undefined && remaining <= 0)) weights.delete(jobId);
    picks.push({ jobId, tokens });
  }
  return { state: current, picks, weights: scheduledAt };
}

/** The job with the smallest start tag (ties by id, so that the order is deterministic). */
function nextJob(state: FairShareState, weights: ReadonlyMap<string, number>): [string, FairShareJob] | undefined {
  let best: [string, FairShareJob] | undefined;
  let bestStart = Infinity;
  for (const id of weights.keys()) {
    const job = state.jobs[id]!;
    const start = Math.max(state.virtualTime, job.finishTag);
    if (start < bestStart || (start === bestStart && best !== undefined && id < best[0])) {
      best = [id, job];
      bestStart = start;
    }
  }
  return best;
}

/**
 * The job's backlog was read to its end while its totals still count work (a registration counted more
 * than was appended): it counts as having none until more is added.
 */
export function markExhausted(state: FairShareState, jobId: string): FairShareState {
  const job = state.jobs[jobId];
  if (job === undefined || !hasWork(job)) return state;
  const drained: FairShareJob = {
    ...job,
    fedMessages: job.ingestMessages + job.extraMessages,
    fedTokens: job.ingestTokens + job.extraTokens,
  };
  return { ...state, jobs: { ...state.jobs, [jobId]: drained } };
}

/** Feeds claimed the job's backlog up to `to`. */
export function claimTo(state: FairShareState, jobId: string, to: number): FairShareState {
  const job = state.jobs[jobId];
  if (job === undefined) return state;
  return { ...state, jobs: { ...state.jobs, [jobId]: { ...job, offset: to } } };
}

function addRecent(recent: readonly FedBucket[], tokens: number, nowInMs: number): FedBucket[] {
  const bucketAt = nowInMs - (nowInMs % SHARE_BUCKET_IN_MS);
  const kept = recent.filter((b) => b.atInMs > nowInMs - SHARE_WINDOW_IN_MS);
  const last = kept[kept.length - 1];
  if (last !== undefined && last.atInMs === bucketAt) {
    kept[kept.length - 1] = { atInMs: bucketAt, tokens: Math.max(0, last.tokens + tokens) };
  } else if (tokens > 0) {
    kept.push({ atInMs: bucketAt, tokens });
  }
  return kept;
}

/** The job's share of the deployment's budget over the last minute: tokens fed against tokens the minute allows. */
export function measuredShare(job: FairShareJob, context: ShareContext): number {
  const since = context.nowInMs - SHARE_WINDOW_IN_MS;
  const fed = job.recent.filter((b) => b.atInMs > since).reduce((sum, b) => sum + b.tokens, 0);
  return Math.min(1, fed / context.tokensPerMinute);
}

/**
 * When the job's backlog should be fed: at the weights the jobs with work are scheduled by, each of the
 * others' backlogs counted as far as it is ahead of the job's (see `feedTimeInMs`); a job without a
 * weight now (being cancelled) at the share measured over the last minute. Undefined without work.
 */
export function etaAtInMs(state: FairShareState, jobId: string, context: ShareContext): number | undefined {
  const job = state.jobs[jobId];
  if (job === undefined) return undefined;
  const { tokens } = backlogOf(job);
  if (tokens <= 0) return undefined;
  const weights = effectiveWeights(state, context);
  if (weights.has(jobId)) return context.nowInMs + feedTimeInMs(state, jobId, weights, context);
  const share = measuredShare(job, context);
  if (share <= 0) return undefined;
  return context.nowInMs + (tokens / (share * context.tokensPerMinute)) * SHARE_WINDOW_IN_MS;
}

/** Adds a feed under way; feeds past their time with nothing to send again are dropped. */
export function addPendingFeed(state: FairShareState, feed: PendingFeed, nowInMs: number): FairShareState {
  return { ...state, pendingFeeds: [...keptPendingFeeds(state, nowInMs), feed] };
}

export function removePendingFeed(state: FairShareState, id: string, nowInMs: number): FairShareState {
  return { ...state, pendingFeeds: keptPendingFeeds(state, nowInMs).filter((f) => f.id !== id) };
}

/** Feeds under way: their messages count as outstanding. */
export function livePendingFeeds(state: FairShareState, nowInMs: number): PendingFeed[] {
  return state.pendingFeeds.filter((f) => f.untilInMs > nowInMs);
}

/** Messages of the feeds under way. */
export function pendingMessages(state: FairShareState, nowInMs: number): number {
  return livePendingFeeds(state, nowInMs).reduce((sum, f) => sum + f.messages, 0);
}

/** Feeds past their time and not cleared: their feeder died, perhaps before sending, so they are sent again. */
export function stalePendingFeeds(state: FairShareState, nowInMs: number): PendingFeed[] {
  return state.pendingFeeds.filter((f) => f.untilInMs <= nowInMs && (f.ranges?.length ?? 0) > 0);
}

/** Takes over a stale feed for `leaseInMs` (so that one re-sender has it); nothing if it is gone or live. */
export function renewPendingFeed(state: FairShareState, id: string, untilInMs: number, nowInMs: number) {
  const feed = state.pendingFeeds.find((f) => f.id === id);
  if (feed === undefined || feed.untilInMs > nowInMs) return { state, feed: undefined };
  const renewed = { ...feed, untilInMs };
  return {
    state: { ...state, pendingFeeds: state.pendingFeeds.map((f) => (f.id === id ? renewed : f)) },
    feed: renewed,
  };
}

function keptPendingFeeds(state: FairShareState, nowInMs: number): PendingFeed[] {
  return state.pendingFeeds.filter((f) => f.untilInMs > nowInMs || (f.ranges?.length ?? 0) > 0);
}

function clampWeight(weight: number): number {
  if (!Number.isFinite(weight)) return MIN_WEIGHT;
  return Math.min(MAX_WEIGHT, Math.max(MIN_WEIGHT, weight));
}

export interface LeadInputs {
  readonly requestsPerMinute: number;
  readonly tokensPerMinute: number;
  /** Estimated tokens (prompt + max_tokens) per request of the work waiting. */
  readonly tokensPerRequest: number;
  /** The endpoint's latency at a high percentile. */
  readonly latencyInMs: number;
  readonly requestsPerMessage: number;
  /** Added to the latency: a worker's receive, reads and admission before a call leaves. */
  readonly marginInMs: number;
  readonly minimumMessages: number;
}

/**
 * How long a message fed now waits for its answer: the `outstanding` messages ahead of it at the
 * deployment's binding rate (`tokensPerMinute` of `tokensPerRequest` each), then the time a message is held.
 */
export function queuedTimeInMs(inputs: {
  readonly outstanding: number;
  readonly requestsPerMessage: number;
  readonly tokensPerMinute: number;
  readonly tokensPerRequest: number;
  readonly latencyInMs: number;
}): number {
  const requestsPerMs = inputs.tokensPerMinute / Math.max(1, inputs.tokensPerRequest) / SHARE_WINDOW_IN_MS;
  return (inputs.outstanding * inputs.requestsPerMessage) / requestsPerMs + inputs.latencyInMs;
}

/**
 * Work messages to keep outstanding in the work queue: the deployment's request rate (bounded by its
 * token rate) over the latency with a quarter on top plus a margin, in messages. Enough that workers
 * never wait for the feeder, and little enough that a new job's first message is near the front.
 */
export function leadTarget(inputs: LeadInputs): number {
  const perMs = Math.min(
    inputs.requestsPerMinute / SHARE_WINDOW_IN_MS,
    inputs.tokensPerMinute / Math.max(1, inputs.tokensPerRequest) / SHARE_WINDOW_IN_MS,
  );
  const requests = perMs * (inputs.latencyInMs * 1.25 + inputs.marginInMs);
  return Math.max(inputs.minimumMessages, Math.ceil(requests / Math.max(1, inputs.requestsPerMessage)));
}

/**
 * The deployment's rate in estimated tokens a minute, whichever of its limits binds: its tokens per
 * minute, or its requests per minute times the tokens a request of the waiting work is estimated at.
 * Shares and the deadline boost are reckoned against it.
 */
export function bindingTokensPerMinute(
  state: FairShareState,
  limits: { readonly requestsPerMinute: number; readonly tokensPerMinute: number },
  requestsPerMessage: number,
): number {
  return Math.max(
    1,
    Math.min(limits.tokensPerMinute, limits.requestsPerMinute * tokensPerRequest(state, requestsPerMessage)),
  );
}

/** Estimated tokens per request of the jobs' work (prompt + max_tokens), from their backlogs' totals. */
export function tokensPerRequest(state: FairShareState, requestsPerMessage: number): number {
  let tokens = 0;
  let messages = 0;
  for (const job of Object.values(state.jobs)) {
    tokens += job.ingestTokens + job.extraTokens;
    messages += job.ingestMessages + job.extraMessages;
  }
  return messages === 0 ? 1 : tokens / messages / Math.max(1, requestsPerMessage);
}
