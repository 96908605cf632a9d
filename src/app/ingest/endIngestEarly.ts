import { finalizeMessage } from '../../core/controlMessage.js';
import type { Job } from '../../core/job.js';
import { LineErrorCode, type LineError } from '../../core/lineErrors.js';
import { updateJob } from '../updateJob.js';
import type { IngestDeps } from './IngestDeps.js';

/**
 * The job's input version was deleted or replaced before the ingest read it to its end. Which lines the
 * unread rest held cannot be known, so they get no outcomes: the job's ingest ends with the lines read
 * so far (they finish as usual), and the job fails with an `input_changed` error that says so.
 */
export async function endIngestEarly(
  jobId: string,
  deleted: boolean,
  deps: Pick<IngestDeps, 'jobs' | 'controlQueue' | 'clock' | 'logger'>,
): Promise<void> {
  const now = deps.clock.nowInMs();
  const ended = await updateJob(deps.jobs, jobId, (job) =>
    job.jobError?.code === LineErrorCode.inputChanged
      ? undefined
      : {
          ...job,
          ingest: { ...job.ingest, done: true, chunk: undefined },
          ingestLease: undefined,
          jobError: inputLostError(job, deleted),
          progressAtInMs: now,
        },
  );
  // Every line read may already have its outcome: finalisation is asked for here (it waits if not).
  await deps.controlQueue.send([finalizeMessage(jobId)]);
  deps.logger.warn(`Job ${jobId}: ${ended.job.jobError?.message ?? 'input lost while it was read'}`);
}

function inputLostError(job: Job, deleted: boolean): LineError {
  const { container, name } = job.input;
  const what = deleted ? 'was deleted' : 'was replaced (a new upload is a job of its own)';
  return {
    code: LineErrorCode.inputChanged,
    message:
      `The input ${container}/${name} ${what} after ${job.ingest.linesRead} of its lines were read; ` +
      'the rest were never read. The lines read are finished and in the output; upload the file again for the rest',
  };
}
