import { LineStatus, toBatchOutputLine, type LineOutcome, type OutcomeTotals } from '../core/lineOutcome.js';
import { planPartsCommit, resultPartId, wholeFileBlockId } from '../core/resultParts.js';
import { ensureError } from '../core/errors.js';
import type { Logger } from './Logger.js';
import type { BlobStore } from './ports.js';
import { RESULT_FILE_BLOCK_CHARS } from './tuning.js';

export const resultsBlobName = (jobId: string): string => `${jobId}/results.jsonl`;
export const errorsBlobName = (jobId: string): string => `${jobId}/errors.jsonl`;

const CONTENT_TYPE = 'application/jsonl';

/**
 * Writes a job's output files as its lines finish, so that finalisation commits them instead of
 * reading every outcome back (minutes and a great many reads for a million lines).
 */
export class ResultParts {
  constructor(
    private readonly blobs: BlobStore,
    private readonly container: string,
    /** 16 hex digits, different on every call. */
    private readonly newUniqueId: () => string,
  ) {}

  /**
   * Stages the output lines of outcomes this call has just recorded. Best effort: a part that fails
   * to stage only means the files are written from the outcomes at the end, which finalisation detects.
   */
  async stage(jobId: string, recorded: readonly LineOutcome[], logger: Logger): Promise<void> {
    const succeeded = recorded.filter((o) => o.status === LineStatus.succeeded);
    const notSucceeded = recorded.filter((o) => o.status !== LineStatus.succeeded);
    try {
      await Promise.all([
        this.#stagePart(resultsBlobName(jobId), succeeded),
        this.#stagePart(errorsBlobName(jobId), notSucceeded),
      ]);
    } catch (error) {
      logger.warn(
        `Job ${jobId}: output lines of ${recorded.length} outcome(s) were not staged (${ensureError(error).message}); the files will be written from the outcomes`,
      );
    }
  }

  /** Commits both files from their parts if these hold exactly the lines expected; false (nothing written) if not. */
  async commit(jobId: string, expected: Pick<OutcomeTotals, 'succeeded' | 'failed'>): Promise<boolean> {
    const [results, errors] = await Promise.all([
      this.#plan(resultsBlobName(jobId), expected.succeeded),
      this.#plan(errorsBlobName(jobId), expected.failed),
    ]);
    if (results === undefined || errors === undefined) return false;
    await Promise.all([
      this.blobs.commitBlocks(this.container, resultsBlobName(jobId), results, { contentType: CONTENT_TYPE }),
      this.blobs.commitBlocks(this.container, errorsBlobName(jobId), errors, { contentType: CONTENT_TYPE }),
    ]);
    return true;
  }

  /**
   * Writes a file whole from its lines, replacing whatever it held. Its blocks' ids are as long as the
   * parts' (Azure refuses a block whose id length differs from the blob's others, staged ones included).
   */
  async writeWhole(blobName: string, lines: AsyncIterable<string>): Promise<void> {
    const ids: string[] = [];
    let pending: string[] = [];
    let chars = 0;
    const stagePending = async (): Promise<void> => {
      if (pending.length === 0) return;
      const id = wholeFileBlockId(ids.length);
      ids.push(id);
      await this.blobs.stageBlock(this.container, blobName, id, pending.join(''));
      pending = [];
      chars = 0;
    };
    for await (const line of lines) {
      pending.push(line);
      chars += line.length;
      if (chars >= RESULT_FILE_BLOCK_CHARS) await stagePending();
    }
    await stagePending();
    await this.blobs.commitBlocks(this.container, blobName, ids, { contentType: CONTENT_TYPE });
  }

  async #stagePart(blobName: string, outcomes: readonly LineOutcome[]): Promise<void> {
    if (outcomes.length === 0) return;
    const inLineOrder = [...outcomes].sort((a, b) => a.line - b.line);
    const text = inLineOrder.map((o) => `${JSON.stringify(toBatchOutputLine(o))}\n`).join('');
    const id = resultPartId({ firstLine: inLineOrder[0]!.line, lines: inLineOrder.length }, this.newUniqueId());
    await this.blobs.stageBlock(this.container, blobName, id, text);
  }

  async #plan(blobName: string, expectedLines: number): Promise<string[] | undefined> {
    const blocks = await this.blobs.listBlocks(this.container, blobName);
    // Committed parts are there when an earlier finalisation got as far as committing: it commits the same again.
    return planPartsCommit(new Set([...blocks.committed, ...blocks.uncommitted]), expectedLines);
  }
}
