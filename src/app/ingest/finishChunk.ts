import { finalizeMessage, ingestMessage } from '../../core/controlMessage.js';
import { checkpoint } from './checkpoint.js';
import { handleLine } from './handleLine.js';
import type { IngestDeps } from './IngestDeps.js';
import type { IngestRun } from './IngestRun.js';
import type { LinePosition } from './IngestTally.js';

/**
 * The chunk is full: it stops at a line boundary, records where the next chunk starts, and hands the
 * rest of the file to a continuation message (a new invocation reads on from there).
 */
export async function handOffChunk(run: IngestRun, end: LinePosition, deps: IngestDeps): Promise<void> {
  run.outgoing.push(...run.packer.flush());
  await checkpoint(run, deps, 'chunk-end', end);
  const { container, name } = run.job.input;
  const next = ingestMessage(container, name, run.job.id);
  await deps.controlQueue.send([next]);
  const { linesRead } = run.tally;
  const where = `${container}/${name}`;
  deps.logger.info(`Job ${run.job.id}: read ${linesRead} lines of ${where} so far; continuing in a new invocation`);
}

/** The file's end: its last line (one without a line break) is handled, and the job's ingest is done. */
export async function finishIngest(run: IngestRun, deps: IngestDeps): Promise<void> {
  for (const raw of run.splitter.end()) handleLine(run, raw, deps);
  run.outgoing.push(...run.packer.flush());
  await checkpoint(run, deps, 'done');
  await finalizeIfComplete(run, deps);
  const { container, name } = run.job.input;
  const { requests, invalid } = run.tally;
  deps.logger.info(`Job ${run.job.id}: ingested ${container}/${name}: ${requests} requests, ${invalid} invalid lines`);
}

/** Every line may already have its outcome (all invalid, or workers were quick): finalisation needs asking for here. */
async function finalizeIfComplete(run: IngestRun, deps: Pick<IngestDeps, 'jobs' | 'controlQueue'>): Promise<void> {
  const final = await deps.jobs.getJob(run.job.id);
  if (final === undefined) return;
  const { succeeded, failed } = final.job.counts;
  if (succeeded + failed >= run.tally.requests + run.tally.invalid) {
    await deps.controlQueue.send([finalizeMessage(run.job.id)]);
  }
}
