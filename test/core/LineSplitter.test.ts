import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineSplitter, type RawLine } from '../../src/core/LineSplitter.js';

function split(chunks: Buffer[], maxLineBytes = 1024): RawLine[] {
  const splitter = new LineSplitter({ maxLineBytes });
  const lines = chunks.flatMap((chunk) => splitter.push(chunk));
  return [...lines, ...splitter.end()];
}

const texts = (lines: RawLine[]): Array<string | null> =>
  lines.map((l) => (l.bytes === null ? null : l.bytes.toString('utf8')));

describe('LineSplitter', () => {
  it('splits LF and CRLF lines and keeps a final line without a terminator', () => {
    const lines = split([Buffer.from('a\r\nbb\n\nccc')]);
    expect(texts(lines)).toEqual(['a', 'bb', '', 'ccc']);
    expect(lines.map((l) => l.lineNumber)).toEqual([1, 2, 3, 4]);
  });

  it('strips a UTF-8 BOM, even split across chunks, and offsets point at the content', () => {
    const file = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"x":1}\n{"y":2}\n')]);
    const lines = split([file.subarray(0, 1), file.subarray(1, 2), file.subarray(2)]);
    expect(texts(lines)).toEqual(['{"x":1}', '{"y":2}']);
    for (const line of lines) {
      expect(file.subarray(line.byteOffset, line.byteOffset + line.byteLength).toString()).toBe(line.bytes!.toString());
    }
  });

  it('reports an oversized line without holding it, and carries on', () => {
    const lines = split([Buffer.from('short\n'), Buffer.alloc(5000, 0x61), Buffer.from('\nnext\n')], 100);
    expect(texts(lines)).toEqual(['short', null, 'next']);
    expect(lines[1]!.byteLength).toBe(5000);
  });

  it('treats an empty file as no lines', () => {
    expect(split([])).toEqual([]);
    expect(split([Buffer.alloc(0)])).toEqual([]);
  });

  it('gives the same lines and offsets however the bytes are chunked (property)', () => {
    const lineArb = fc.string({ unit: fc.constantFrom('a', 'é', '€', '😀', '\r', ' ', '{', '"'), maxLength: 20 });
    fc.assert(
      fc.property(
        fc.array(lineArb, { maxLength: 20 }),
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1 }),
        (lines, crlf, cuts) => {
          const file = Buffer.from(lines.join(crlf ? '\r\n' : '\n'));
          const chunks: Buffer[] = [];
          let at = 0;
          let cut = 0;
          while (at < file.length) {
            const size = cuts[cut++ % cuts.length]!;
            chunks.push(file.subarray(at, at + size));
            at += size;
          }
          const whole = split([file]);
          const chunked = split(chunks);
          expect(chunked).toEqual(whole);
          for (const line of chunked) {
            expect(file.subarray(line.byteOffset, line.byteOffset + line.byteLength).equals(line.bytes!)).toBe(true);
          }
        },
      ),
    );
  });
});
