import type { ChatCompletionBody } from '../../core/chat.js';
import { LineErrorCode, type LineError } from '../../core/lineErrors.js';
import { parseBatchLine } from '../../core/parseBatchLine.js';
import type { RequestMessage } from '../../core/requestMessage.js';
import type { CoalescingOptions } from '../coalescedRangeReads.js';
import { BlobChangedError } from '../ports.js';
import type { WorkerDeps } from './WorkerDeps.js';

/** A line's request body, or why it could not be read back. */
export type LineBody = ChatCompletionBody | LineError;

/** Ref items of one message are neighbouring lines: one range read covers them all when the span is modest. */
const MAX_SHARED_READ_BYTES = 8 * 1024 * 1024;

/**
 * Messages started together read their lines as one when the bytes between them are few (a 64 KB read
 * costs what a 3 KB one does).
 */
export const INPUT_RANGE_COALESCING: CoalescingOptions = {
  maxSpanBytes: MAX_SHARED_READ_BYTES,
  maxGapBytes: 64 * 1024,
};

interface LineRef {
  readonly line: number;
  readonly offset: number;
  readonly length: number;
}

/** Reads the bodies of items sent by reference, from the pinned blob version, in as few reads as possible. */
export async function readLineBodies(
  message: RequestMessage,
  deps: Pick<WorkerDeps, 'readInputRange'>,
): Promise<Map<number, LineBody>> {
  const bodies = new Map<number, LineBody>();
  const refs: LineRef[] = [];
  for (const item of message.items) {
    if ('body' in item) bodies.set(item.line, item.body);
    else refs.push({ line: item.line, offset: item.ref.offset, length: item.ref.length });
  }
  if (refs.length === 0) return bodies;
  try {
    await readRefs(message, refs, bodies, deps);
  } catch (error) {
    if (!(error instanceof BlobChangedError)) throw error;
    for (const ref of refs) {
      bodies.set(ref.line, {
        code: LineErrorCode.inputChanged,
        message: `The input blob changed while the job ran; line ${ref.line} could not be read back`,
      });
    }
  }
  return bodies;
}

async function readRefs(
  message: RequestMessage,
  refs: readonly LineRef[],
  bodies: Map<number, LineBody>,
  deps: Pick<WorkerDeps, 'readInputRange'>,
): Promise<void> {
  const { container, name, etag } = message.input;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const readBack = (line: number, bytes: Buffer): LineBody => {
    const parsed = parseBatchLine(decoder.decode(bytes));
    return parsed.kind === 'request'
      ? parsed.body
      : {
          code: LineErrorCode.inputChanged,
          message: `Line ${line} read back from the input blob is no longer a valid request`,
        };
  };
  const start = Math.min(...refs.map((r) => r.offset));
  const end = Math.max(...refs.map((r) => r.offset + r.length));
  if (end - start <= MAX_SHARED_READ_BYTES) {
    const span = await deps.readInputRange(container, name, { etag, offset: start, length: end - start });
    for (const ref of refs) {
      bodies.set(ref.line, readBack(ref.line, span.subarray(ref.offset - start, ref.offset - start + ref.length)));
    }
    return;
  }
  for (const ref of refs) {
    const bytes = await deps.readInputRange(container, name, { etag, offset: ref.offset, length: ref.length });
    bodies.set(ref.line, readBack(ref.line, bytes));
  }
}
