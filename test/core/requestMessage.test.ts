import { describe, expect, it } from 'vitest';
import {
  RequestMessagePacker,
  parseRequestMessage,
  payloadJson,
  type RequestMessage,
} from '../../src/core/requestMessage.js';

const input = { container: 'batch-input', name: 'file.jsonl', etag: '"0x1"' };
const body = (text: string) => ({ messages: [{ role: 'user', content: text }] });

function packAll(sizes: number[], options = { maxMessageBytes: 4096, maxItemsPerMessage: 5 }): RequestMessage[] {
  const packer = new RequestMessagePacker('job_1', input, options);
  const messages = sizes.flatMap((size, index) =>
    packer.add(index + 1, `id-${index + 1}`, body('x'.repeat(size)), { offset: index * 10_000, length: size + 40 }),
  );
  return [...messages, ...packer.flush()];
}

describe('RequestMessagePacker', () => {
  it('keeps every message under the byte limit and carries every request once, in order', () => {
    const sizes = Array.from({ length: 40 }, (_, i) => (i * 397) % 1500);
    const messages = packAll(sizes);
    for (const m of messages) expect(Buffer.byteLength(JSON.stringify(m))).toBeLessThanOrEqual(4096);
    expect(messages.flatMap((m) => m.items.map((i) => i.line))).toEqual(sizes.map((_, i) => i + 1));
    expect(messages.map((m) => m.seq)).toEqual(messages.map((_, i) => i));
  });

  it('respects the item limit', () => {
    const messages = packAll(Array.from({ length: 12 }, () => 10));
    expect(messages.map((m) => m.items.length)).toEqual([5, 5, 2]);
  });

  it('sends a request too large to travel inline by reference to its bytes', () => {
    const messages = packAll([10, 10_000, 10]);
    const items = messages.flatMap((m) => m.items);
    expect(items[1]).toEqual({ line: 2, id: 'id-2', ref: { offset: 10_000, length: 10_040 } });
    for (const m of messages) expect(Buffer.byteLength(JSON.stringify(m))).toBeLessThanOrEqual(4096);
  });

  it('packs deterministically, so a resumed ingest numbers messages the same way', () => {
    const sizes = [100, 3000, 50, 2000, 900, 900, 900];
    expect(packAll(sizes)).toEqual(packAll(sizes));
  });

  it('serialises a message once, exactly as JSON.stringify would read back', () => {
    for (const message of packAll([10, 10_000, 300, 5])) {
      expect(JSON.parse(payloadJson(message))).toEqual(JSON.parse(JSON.stringify(message)));
    }
    expect(payloadJson({ other: 1 })).toBe('{"other":1}');
  });

  it('marks the messages of a first send, packed exactly as unmarked ones, and serialised with the mark', () => {
    const sizes = [100, 3000, 50, 2000, 900, 900, 900];
    const packer = new RequestMessagePacker('job_1', input, { maxMessageBytes: 4096, maxItemsPerMessage: 5 }, 0, {
      firstSend: true,
    });
    const marked = [
      ...sizes.flatMap((size, index) =>
        packer.add(index + 1, `id-${index + 1}`, body('x'.repeat(size)), { offset: index * 10_000, length: size + 40 }),
      ),
      ...packer.flush(),
    ];
    expect(marked.map(({ firstSend: _mark, ...rest }) => rest)).toEqual(packAll(sizes));
    for (const message of marked) {
      expect(message.firstSend).toBe(true);
      expect(JSON.parse(payloadJson(message))).toEqual(JSON.parse(JSON.stringify(message)));
      expect(parseRequestMessage(JSON.parse(payloadJson(message)))).toEqual({ ok: true, value: message });
    }
    expect(packAll([10])[0]).not.toHaveProperty('firstSend');
    expect(parseRequestMessage({ ...marked[0], firstSend: false })).toEqual({
      ok: false,
      error: expect.stringMatching(/firstSend/),
    });
    // The feeder's weight: a number from 1.
    expect(parseRequestMessage({ ...marked[0], weight: 32 })).toEqual({
      ok: true,
      value: { ...marked[0], weight: 32 },
    });
    for (const weight of [0, '32', null])
      expect(parseRequestMessage({ ...marked[0], weight })).toEqual({
        ok: false,
        error: expect.stringMatching(/weight/),
      });
  });

  it('parses a well-formed message and names what is wrong with a bad one', () => {
    const [message] = packAll([10]);
    expect(parseRequestMessage(JSON.parse(JSON.stringify(message)))).toEqual({ ok: true, value: message });
    expect(parseRequestMessage('x')).toEqual({ ok: false, error: expect.stringMatching(/not a JSON object/) });
    expect(parseRequestMessage({ v: 1, kind: 'requests', jobId: 'j', seq: 0, input, items: [{ line: 1 }] })).toEqual({
      ok: false,
      error: expect.stringMatching(/lacks line or id/),
    });
  });
});
