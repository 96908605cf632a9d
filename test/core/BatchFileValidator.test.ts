import { describe, expect, it } from 'vitest';
import { BatchFileValidator } from '../../src/core/BatchFileValidator.js';
import { LineSplitter } from '../../src/core/LineSplitter.js';

function validateFile(text: string | Buffer, options = { maxLineBytes: 1024, maxLinesPerFile: 100 }) {
  const splitter = new LineSplitter({ maxLineBytes: options.maxLineBytes });
  const validator = new BatchFileValidator(options);
  const raw = [...splitter.push(Buffer.isBuffer(text) ? text : Buffer.from(text)), ...splitter.end()];
  return raw.map((line) => validator.validate(line));
}

const line = (fields: Record<string, unknown>) =>
  JSON.stringify({ messages: [{ role: 'user', content: 'q' }], ...fields });

describe('BatchFileValidator', () => {
  it('numbers lines from 1, skips blanks, and names lines without custom_id ~line-<n>', () => {
    const result = validateFile(`${line({ custom_id: 'a' })}\n\n${line({})}\n`);
    expect(result.map((r) => r.kind)).toEqual(['request', 'blank', 'request']);
    expect(result[2]).toMatchObject({ lineNumber: 3, customId: '~line-3' });
  });

  it('never gives a line without custom_id an id another line names, whichever comes first', () => {
    // Line 1 names the id line 2 would have had under the old scheme; line 4 names line 3's.
    const result = validateFile(
      [line({ custom_id: 'line-2' }), line({}), line({}), line({ custom_id: 'line-3' })].join('\n'),
    );
    expect(result.map((r) => [r.kind, r.kind === 'blank' ? '' : r.customId])).toEqual([
      ['request', 'line-2'],
      ['request', '~line-2'],
      ['request', '~line-3'],
      ['request', 'line-3'],
    ]);
  });

  it('refuses an explicit custom_id of the reserved ~line-<n> form, and reports the line under its own synthesized id', () => {
    const result = validateFile([line({}), line({ custom_id: '~line-1' }), line({ custom_id: '~line-x' })].join('\n'));
    expect(
      result.map((r) => [r.kind, r.kind === 'blank' ? '' : r.customId, r.kind === 'invalid' ? r.error.param : null]),
    ).toEqual([
      ['request', '~line-1', null],
      ['invalid', '~line-2', 'custom_id'],
      ['request', '~line-x', null],
    ]);
  });

  it('says so when a file with CR-only line endings reads as one invalid line', () => {
    const [only, ...rest] = validateFile([line({ custom_id: 'a' }), line({ custom_id: 'b' }), ''].join('\r'));
    expect(rest).toEqual([]);
    expect(only).toMatchObject({
      kind: 'invalid',
      error: { code: 'invalid_json_line', message: expect.stringContaining('CR-only line endings') },
    });
    // CRLF files and a CR as JSON whitespace inside a line are fine.
    expect(validateFile([line({ custom_id: 'a' }), line({ custom_id: 'b' })].join('\r\n')).map((r) => r.kind)).toEqual([
      'request',
      'request',
    ]);
    expect(validateFile('{"custom_id":"c",\r"messages":[{"role":"user","content":"q"}]}')[0]).toMatchObject({
      kind: 'request',
      customId: 'c',
    });
  });

  it('reports a duplicate custom_id on the second occurrence', () => {
    const result = validateFile(`${line({ custom_id: 'a' })}\n${line({ custom_id: 'a' })}`);
    expect(result[1]).toMatchObject({ kind: 'invalid', lineNumber: 2, error: { code: 'duplicate_custom_id' } });
  });

  it('reports a model that differs from the first one named', () => {
    const result = validateFile(`${line({ model: 'phi-3' })}\n${line({ model: 'gpt-4o' })}\n${line({})}`);
    expect(result.map((r) => (r.kind === 'invalid' ? r.error.code : r.kind))).toEqual([
      'request',
      'model_mismatch',
      'request',
    ]);
  });

  it('reports invalid UTF-8 and oversized lines, and keeps the valid ones', () => {
    const bad = Buffer.concat([Buffer.from('{"messages":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n')]);
    const big = `${line({ pad: 'x'.repeat(2000) })}\n`;
    const result = validateFile(Buffer.concat([bad, Buffer.from(big), Buffer.from(line({}))]));
    expect(result.map((r) => (r.kind === 'invalid' ? r.error.code : r.kind))).toEqual([
      'invalid_utf8',
      'line_too_large',
      'request',
    ]);
  });

  it('stops accepting requests past the per-file limit with too_many_tasks', () => {
    const result = validateFile([line({}), line({}), line({})].join('\n'), { maxLineBytes: 1024, maxLinesPerFile: 2 });
    expect(result.map((r) => (r.kind === 'invalid' ? r.error.code : r.kind))).toEqual([
      'request',
      'request',
      'too_many_tasks',
    ]);
  });
});
