import { LineErrorCode, type LineError } from '../lineErrors.js';
import { parseBatchMetadata } from './batchMetadata.js';
import {
  COMPLETION_WINDOW_LIMITS,
  DEFAULT_COMPLETION_WINDOW,
  parseCompletionWindow,
  type CompletionWindowLimits,
} from './completionWindow.js';

/** How a batch was asked for: through `POST /v1/batches`, or in a dropped blob's metadata. */
export interface BatchRequest {
  readonly completionWindow: string;
  /** When the window closes: lines not sent by then end as `batch_expired`. */
  readonly expiresAtInMs: number;
  readonly metadata?: Readonly<Record<string, string>> | undefined;
  /** The uploaded file the batch was created from; absent for a dropped blob. */
  readonly inputFileId?: string | undefined;
}

/** Blob metadata keys a dropped file may carry (Azure metadata values are ASCII: JSON escapes the rest). */
export const BLOB_METADATA_KEYS = { completionWindow: 'completionwindow', metadata: 'batchmetadata' } as const;

/**
 * A dropped file's window and metadata, from its blob metadata: `completionwindow=48h`,
 * `batchmetadata={"team":"search"}`. A value that does not parse is left out here (the default window
 * applies); `blobBatchRequestRefusal` says why, and the job is refused with it.
 */
export function batchRequestFromBlobMetadata(
  blobMetadata: Readonly<Record<string, string>>,
  createdAtInMs: number,
  limits: CompletionWindowLimits = COMPLETION_WINDOW_LIMITS,
): BatchRequest {
  let completionWindow = DEFAULT_COMPLETION_WINDOW;
  let windowInMs = parseCompletionWindow(DEFAULT_COMPLETION_WINDOW, { minInMs: 0, maxInMs: Number.MAX_SAFE_INTEGER });
  const asked = blobMetadata[BLOB_METADATA_KEYS.completionWindow];
  if (asked !== undefined) {
    try {
      windowInMs = parseCompletionWindow(asked, limits);
      completionWindow = asked;
    } catch {
      // The default stands.
    }
  }
  let metadata: Readonly<Record<string, string>> | undefined;
  const text = blobMetadata[BLOB_METADATA_KEYS.metadata];
  if (text !== undefined) {
    try {
      metadata = parseBatchMetadata(JSON.parse(text));
    } catch {
      metadata = undefined;
    }
  }
  return { completionWindow, expiresAtInMs: createdAtInMs + windowInMs, metadata };
}

/**
 * Why a dropped file's `completionwindow` or `batchmetadata` cannot be used, if one cannot: its job then
 * sends nothing and fails saying why. A window other than the one asked for would end lines as
 * `batch_expired` earlier, or hold them longer, than the user planned; metadata left out would drop the
 * cost tags they report spend by.
 */
export function blobBatchRequestRefusal(
  blobMetadata: Readonly<Record<string, string>>,
  limits: CompletionWindowLimits = COMPLETION_WINDOW_LIMITS,
): LineError | undefined {
  const asked = blobMetadata[BLOB_METADATA_KEYS.completionWindow];
  if (asked !== undefined) {
    try {
      parseCompletionWindow(asked, limits);
    } catch (error) {
      return refusal(LineErrorCode.invalidCompletionWindow, BLOB_METADATA_KEYS.completionWindow, error);
    }
  }
  const text = blobMetadata[BLOB_METADATA_KEYS.metadata];
  if (text !== undefined) {
    try {
      parseBatchMetadata(JSON.parse(text));
    } catch (error) {
      return refusal(LineErrorCode.invalidBatchMetadata, BLOB_METADATA_KEYS.metadata, error);
    }
  }
  return undefined;
}

function refusal(code: LineErrorCode, key: string, error: unknown): LineError {
  const reason = error instanceof Error ? error.message : String(error);
  return { code, message: `Blob metadata ${key}: ${reason}; no line is sent`, param: key };
}
