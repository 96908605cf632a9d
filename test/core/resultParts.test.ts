import { describe, expect, it } from 'vitest';
import {
  MAX_PARTS_PER_FILE,
  parseResultPartId,
  planPartsCommit,
  resultPartId,
  wholeFileBlockId,
} from '../../src/core/resultParts.js';

const unique = (n: number) => n.toString(16).padStart(16, '0');

describe('result parts', () => {
  it('an id says where its part starts and how many lines it holds, at one fixed width', () => {
    const id = resultPartId({ firstLine: 42, lines: 32 }, unique(7));
    expect(id).toBe('L0000000042-N0000032-0000000000000007');
    expect(resultPartId({ firstLine: 1_000_000, lines: 1 }, unique(8))).toHaveLength(id.length);
    expect(parseResultPartId(id)).toEqual({ firstLine: 42, lines: 32 });
    expect(parseResultPartId('some-other-block')).toBeUndefined();
  });

  it('commits the parts in line order when they hold exactly the lines expected', () => {
    const ids = [
      resultPartId({ firstLine: 33, lines: 2 }, unique(1)),
      resultPartId({ firstLine: 1, lines: 32 }, unique(2)),
    ];
    expect(planPartsCommit(ids, 34)).toEqual([ids[1], ids[0]]);
    expect(planPartsCommit([], 0)).toEqual([]);
  });

  it('refuses when a part is missing, when two start at one line, or when there are more than a blob can commit', () => {
    const a = resultPartId({ firstLine: 1, lines: 2 }, unique(1));
    expect(planPartsCommit([a], 3)).toBeUndefined();
    expect(planPartsCommit([a, resultPartId({ firstLine: 1, lines: 1 }, unique(2))], 3)).toBeUndefined();
    const many = Array.from({ length: MAX_PARTS_PER_FILE + 1 }, (_, i) =>
      resultPartId({ firstLine: i + 1, lines: 1 }, unique(i)),
    );
    expect(planPartsCommit(many, many.length)).toBeUndefined();
    expect(planPartsCommit(many.slice(1), many.length - 1)).toHaveLength(MAX_PARTS_PER_FILE);
  });

  it('ignores blocks that are not parts (a file written whole from the outcomes)', () => {
    const a = resultPartId({ firstLine: 5, lines: 3 }, unique(1));
    expect(planPartsCommit(['MDAwMDA=', a], 3)).toEqual([a]);
    // A file written whole uses ids as long as the parts' (Azure wants one length per blob), never read as parts.
    expect(wholeFileBlockId(3)).toHaveLength(a.length);
    expect(planPartsCommit([wholeFileBlockId(0), a], 3)).toEqual([a]);
  });
});
