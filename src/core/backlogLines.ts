import { payloadJson } from './requestMessage.js';

/**
 * A job's backlog as JSON lines (decision 0012): one work message a line, appended whole, so a read from a
 * line's start parses every complete line and leaves a cut-off last one for the next read.
 */

export interface ParsedLine {
  readonly payload: unknown;
  /** Offset just past the line's newline. */
  readonly endOffset: number;
}

/** The lines a batch of messages is appended as. */
export function backlogText(payloads: readonly unknown[]): string {
  return payloads.map((p) => `${payloadJson(p)}\n`).join('');
}

/** The complete lines of `bytes`, read at `fromOffset` (a line's start); a trailing partial line is not returned. */
export function parseBacklogLines(bytes: Buffer, fromOffset: number): ParsedLine[] {
  const lines: ParsedLine[] = [];
  let start = 0;
  for (;;) {
    const end = bytes.indexOf(0x0a, start);
    if (end < 0) break;
    lines.push({
      payload: JSON.parse(bytes.subarray(start, end).toString('utf8')) as unknown,
      endOffset: fromOffset + end + 1,
    });
    start = end + 1;
  }
  return lines;
}
