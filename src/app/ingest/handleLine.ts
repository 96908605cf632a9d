import type { RawLine } from '../../core/LineSplitter.js';
import { MAX_ERRORS_ON_JOB } from '../../core/job.js';
import type { ValidatedLine } from '../../core/BatchFileValidator.js';
import type { IngestDeps } from './IngestDeps.js';
import type { IngestRun } from './IngestRun.js';
import { cancelledLineOutcome, invalidLineOutcome } from './ingestOutcomes.js';
import { addMaxCompletionTokens, addPromptTokens, exactPromptTokens } from './promptTokens.js';
import type { ChatCompletionBody } from '../../core/chat.js';
import type { LineError } from '../../core/lineErrors.js';
import { requestSizeError } from '../../core/requestLimits.js';
import { requestLimitsOf, type Deployment } from '../deployments.js';

export type LineDeps = Pick<IngestDeps, 'deployments' | 'clock' | 'defaultMaxTokens'>;

/**
 * Validates one line and takes it where it goes: a request is counted and packed into the outgoing
 * messages (or cancelled, when the job is); an invalid line gets its outcome and maybe a place among
 * the job's errors; a blank line is only counted.
 */
export function handleLine(run: IngestRun, raw: RawLine, deps: LineDeps): void {
  run.tally.linesRead += 1;
  const line = run.validator.validate(raw);
  if (line.kind === 'blank') return;
  if (line.kind === 'invalid') {
    recordInvalidLine(run, line, deps);
    return;
  }
  const { tally } = run;
  const deployment = (run.deployment ??= deps.deployments.forJob(line.body.model, run.job.id));
  const counted = exactPromptTokens(tally, line.body, deployment.tokenCounter, run.exactTokenLines);
  const oversized = oversizedRequestError(line.body, counted, deployment, deps.defaultMaxTokens);
  if (oversized !== undefined) {
    recordInvalidLine(
      run,
      { kind: 'invalid', lineNumber: line.lineNumber, customId: line.customId, error: oversized },
      deps,
    );
    return;
  }
  tally.requests += 1;
  addMaxCompletionTokens(tally, line.body, deps.defaultMaxTokens);
  addPromptTokens(tally, line.body, deployment.tokenCounter, run.exactTokenLines, counted);
  if (run.cancelled) {
    run.directOutcomes.push(cancelledLineOutcome(run.job.id, line.lineNumber, line.customId, deps.clock.nowInMs()));
    return;
  }
  const ref = { offset: line.byteOffset, length: line.byteLength };
  run.outgoing.push(...run.packer.add(line.lineNumber, line.customId, line.body, ref));
}

function recordInvalidLine(run: IngestRun, line: Extract<ValidatedLine, { kind: 'invalid' }>, deps: LineDeps): void {
  run.tally.invalid += 1;
  const { errors } = run;
  if (errors.length < MAX_ERRORS_ON_JOB && !errors.some((e) => e.line === line.lineNumber)) {
    errors.push({ ...line.error, line: line.lineNumber });
  }
  run.directOutcomes.push(invalidLineOutcome(run.job.id, line, deps.clock.nowInMs()));
}

/**
 * Handles a slice's lines until the chunk is full; then notes where the next chunk starts (right after
 * the last line handled) and leaves the rest of the slice to it.
 */
export function handleSlice(run: IngestRun, rawLines: readonly RawLine[], deps: LineDeps): void {
  for (let index = 0; index < rawLines.length; index += 1) {
    const raw = rawLines[index]!;
    handleLine(run, raw, deps);
    if (run.linesReadInChunk >= run.chunkLines) {
      const next = rawLines[index + 1];
      const byteOffset = next?.byteOffset ?? run.splitter.committedByteOffset;
      run.chunkEnd = { byteOffset, lineNumber: raw.lineNumber + 1 };
      return;
    }
  }
}

/**
 * A request its deployment could never serve fails here, without a call: over the model's context or
 * the deployment's tokens per minute. Lines whose prompt is not counted here are checked by the worker.
 */
function oversizedRequestError(
  body: ChatCompletionBody,
  countedPromptTokens: number | undefined,
  deployment: Deployment,
  defaultMaxTokens: number,
): LineError | undefined {
  const own = body.max_tokens ?? undefined;
  const size = {
    promptTokens: countedPromptTokens ?? 0,
    maxTokens: own ?? defaultMaxTokens,
    maxTokensDefaulted: own === undefined,
  };
  return requestSizeError(size, requestLimitsOf(deployment));
}
