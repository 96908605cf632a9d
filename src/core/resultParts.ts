/**
 * A job's output files are assembled from parts: each part is one staged block of the file's blob,
 * holding the output lines of the outcomes one call recorded. Its id says where it starts and how
 * many lines it holds, so finalisation can check from the block list alone that the parts hold every
 * line exactly once, without reading the outcomes back.
 */
export interface ResultPart {
  readonly firstLine: number;
  readonly lines: number;
}

/** Fixed width (a blob's block ids must all have one length), ordered by first line when sorted as text. */
const PART_ID = /^L(\d{10})-N(\d{7})-[0-9a-f]{16}$/;

/** Azure commits at most 50,000 blocks into one blob. */
export const MAX_PARTS_PER_FILE = 50_000;

/** `unique`: 16 hex digits that no other part of the file shares. */
export function resultPartId(part: ResultPart, unique: string): string {
  return `L${String(part.firstLine).padStart(10, '0')}-N${String(part.lines).padStart(7, '0')}-${unique}`;
}

/**
 * A block of a file written whole (from the outcomes, when the parts do not add up): as long as a part's
 * id, since a blob's block ids, staged or committed, must all have one length; never read as a part.
 */
export function wholeFileBlockId(index: number): string {
  return `W${String(index).padStart(10, '0')}-N0000000-0000000000000000`;
}

export function parseResultPartId(id: string): ResultPart | undefined {
  const match = PART_ID.exec(id);
  return match === null ? undefined : { firstLine: Number(match[1]), lines: Number(match[2]) };
}

/**
 * The parts to commit, in line order, if they hold exactly `expectedLines` lines; undefined if not
 * (a part was never staged, or there are too many), and the file must be written from the outcomes.
 * A line is recorded once, and only the call that recorded it stages it, so no line is in two parts:
 * when the count adds up, none is missing either.
 */
export function planPartsCommit(blockIds: Iterable<string>, expectedLines: number): string[] | undefined {
  const parts = new Map<string, ResultPart>();
  for (const id of blockIds) {
    const part = parseResultPartId(id);
    if (part !== undefined) parts.set(id, part);
  }
  if (parts.size > MAX_PARTS_PER_FILE) return undefined;
  let lines = 0;
  const firstLines = new Set<number>();
  for (const part of parts.values()) {
    lines += part.lines;
    firstLines.add(part.firstLine);
  }
  // Two parts cannot start at one line: if they do, something other than this scheme staged them.
  if (lines !== expectedLines || firstLines.size !== parts.size) return undefined;
  return [...parts.keys()].sort();
}
