import type { IngestChunkStart } from '../../core/job.js';

/** A place in the file: the byte a line starts at and its number. */
export interface LinePosition {
  readonly byteOffset: number;
  readonly lineNumber: number;
}

/** Where the ingest of a file that has not been read yet starts. */
export const FILE_START: IngestChunkStart = {
  byteOffset: 0,
  lineNumber: 1,
  seq: 0,
  idsBlob: undefined,
  requestedModel: undefined,
  linesRead: 0,
  requests: 0,
  invalid: 0,
  defaultMaxTokensApplied: 0,
  estimatedPromptTokens: 0,
  maxCompletionTokens: 0,
  sampledChars: 0,
  sampledTokens: 0,
  sampledLines: 0,
};

/**
 * The ingest's running counts, updated in place for every line (no allocation per line). They start
 * where the chunk starts and travel to the next chunk with it.
 */
export interface IngestTally {
  /** Lines read, blank ones included. */
  linesRead: number;
  /** Lines that became requests. */
  requests: number;
  /** Lines that failed validation. */
  invalid: number;
  /** Requests without max_tokens, which get the default. */
  defaultMaxTokensApplied: number;
  estimatedPromptTokens: number;
  maxCompletionTokens: number;
  /** Prompt characters, exact tokens and lines of the requests tokenised so far, to estimate the rest from. */
  sampledChars: number;
  sampledTokens: number;
  sampledLines: number;
}

export function tallyFrom(start: IngestChunkStart): IngestTally {
  return {
    linesRead: start.linesRead,
    requests: start.requests,
    invalid: start.invalid,
    defaultMaxTokensApplied: start.defaultMaxTokensApplied,
    estimatedPromptTokens: start.estimatedPromptTokens,
    maxCompletionTokens: start.maxCompletionTokens,
    sampledChars: start.sampledChars,
    sampledTokens: start.sampledTokens,
    sampledLines: start.sampledLines,
  };
}
