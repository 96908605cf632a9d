/**
 * Internal tuning values: choices that are not settings (settings and their defaults are in
 * `src/config.ts`, the only place those live). Kept together so that each has one home.
 */

/** Largest queue message before base64: 48 KiB encodes to 64 KiB, Azure's limit; room is left for the padding. */
export const MAX_MESSAGE_BYTES = 48 * 1024 - 512;

/** Work messages between two records of the ingest's progress on the job. */
export const INGEST_MESSAGES_PER_CHECKPOINT = 256;
/** Work messages the ingest sends in one call to the queue. */
export const INGEST_SEND_BATCH_MESSAGES = 32;
/** About 400 lines of a typical file: the ingest lets the process breathe this often. */
export const INGEST_READ_SLICE_BYTES = 64 * 1024;
/**
 * Until the job's first message is out, slices are smaller: the first lines' tokens are counted exactly
 * (slowly), so a whole first slice of them would hold the first message back.
 */
export const INGEST_FIRST_SLICE_BYTES = 8 * 1024;
/**
 * Batches of sends under way while reading goes on: two (up to 64 sends) keep the queue service busy
 * without flooding it, so the workers' receives and range reads at a job's start do not queue behind the
 * ingest's sends. Azure's target for one queue is 2,000 messages a second, which 64 sends in flight reach.
 */
export const INGEST_MAX_SEND_BATCHES_IN_FLIGHT = 2;
/** Renewed at every checkpoint; a reader that died lets another take over after this. */
export const INGEST_LEASE_IN_MS = 5 * 60_000;
/** Outcomes of invalid (or cancelled) lines the ingest holds before it records them. */
export const INGEST_OUTCOMES_PER_FLUSH = 500;
/** Tokens per prompt character assumed before any line was counted exactly. */
export const INGEST_DEFAULT_TOKENS_PER_CHAR = 0.25;

/**
 * The longest a line waits for a call slot before it goes back to the queue (decision 0010): the host
 * lends an instance up to batchSize + newBatchThreshold messages whether or not its calls need them, and a
 * line must still have time for its call within the function's time limit (host.json, 10 min).
 */
export const MAX_SLOT_WAIT_IN_MS = 2 * 60_000;
/** How long a line sent back for want of a slot stays invisible: another instance, or this one later, takes it. */
export const SLOT_WAIT_REQUEUE_DELAY_IN_MS = 5_000;

/** Work messages sent in one call when failed or lost lines are queued again. */
export const REQUEUE_MESSAGES_PER_SEND = 64;

/** A result file written whole goes up in blocks of about 4 MiB: bounded memory whatever its size. */
export const RESULT_FILE_BLOCK_CHARS = 4 * 1024 * 1024;

/** Server debt reports are folded into the shared rate budget at most this often. */
export const BUDGET_CORRECTION_INTERVAL_IN_MS = 1_000;
/**
 * The next slice of the shared budget is claimed while this much of the held timeline (or twice a claim's
 * usual round trip, if more) is still to run, and covers at least as much: the claim's round trip then
 * passes while requests are still being admitted, however slow the store is.
 */
export const BUDGET_MIN_CLAIM_LEAD_IN_MS = 100;

/**
 * Longer than any call takes from its reservation to its answer (queueing for a call slot included):
 * a call reserved this close to midnight may be priced, and counted, on the next day.
 */
export const PRICE_HORIZON_IN_MS = 3_600_000;

/** Outcomes deleted per bulk request when a job's outcomes are removed (deleted, or past retention). */
export const REMOVE_OUTCOMES_BATCH = 1_000;

/** How long a feeder holds the backlog messages it moves; a feeder that dies lets them reappear after this. */
export const FEED_LEASE_IN_MS = 30_000;
/**
 * Added to the service time in the lead target: a message's time in a worker before its first call and
 * after its last answer (the host's polling, the job and line reads, the outcome writes, the feed after
 * it). The lines' pacing and the calls are in the service time the workers measure.
 */
export const FEED_MARGIN_IN_MS = 2_000;
/** The work queue's least lead, in messages: every instance's first receive finds work. */
export const FEED_MIN_LEAD_MESSAGES = 4;
/** Most messages one feed moves: bounds what two feeders racing can put beyond the lead. */
export const FEED_MAX_MESSAGES = 64;
/** Most work messages outstanding while a cancelled job's backlog is moved: they only get their `batch_cancelled` outcome. */
export const FEED_DRAIN_MESSAGES = 64;
/** Most bytes of a job's backlog one feed reads ahead of its offset (a first read, before a message's size is known). */
export const FEED_READ_BYTES = 256 * 1024;
/** Messages a feed reads beyond those it means to take: other feeders' claims may land first. */
export const FEED_READ_SPARE_MESSAGES = 4;
