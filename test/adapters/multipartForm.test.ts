import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { multipartForm } from '../../src/adapters/functions/multipartForm.js';
import { BadRequestError } from '../../src/core/errors.js';

const BOUNDARY = 'test-boundary-1234';
const CONTENT_TYPE = `multipart/form-data; boundary=${BOUNDARY}`;
const filePartHead = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\nContent-Type: application/jsonl\r\n\r\n`;
const fieldPart = (name: string, value: string) =>
  `\r\n--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}`;

describe('multipartForm', () => {
  it('hands the file part over while the body is still arriving, and the fields sent after it at the end', async () => {
    const body = new PassThrough();
    let firstChunkSeen!: () => void;
    const firstChunk = new Promise<void>((resolve) => (firstChunkSeen = resolve));
    let received = '';
    const reading = multipartForm(CONTENT_TYPE, body).read(async (filename, content, fieldsSoFar) => {
      expect(filename).toBe('big.jsonl');
      expect(fieldsSoFar).toEqual({});
      for await (const chunk of content) {
        received += chunk.toString('utf8');
        firstChunkSeen();
      }
    });
    body.write(filePartHead);
    body.write('{"custom_id":"a"}\n'.repeat(1000));
    // The body is not finished: the file's first bytes reach the consumer all the same.
    await firstChunk;
    expect(body.writableEnded).toBe(false);
    body.write('{"custom_id":"b"}\n');
    body.end(`${fieldPart('purpose', 'batch')}\r\n--${BOUNDARY}--\r\n`);
    expect(await reading).toEqual({ purpose: 'batch' });
    expect(received).toBe(`${'{"custom_id":"a"}\n'.repeat(1000)}{"custom_id":"b"}\n`);
  });

  it('refuses a body that is not multipart', async () => {
    await expect(
      multipartForm('application/json', new PassThrough()).read(async () => undefined),
    ).rejects.toBeInstanceOf(BadRequestError);
  });

  it("passes on the consumer's error and drains the rest of the body", async () => {
    const body = new PassThrough();
    const reading = multipartForm(CONTENT_TYPE, body).read(async () => {
      throw new BadRequestError('no thanks', 'purpose');
    });
    body.end(`${filePartHead}x\n${fieldPart('purpose', 'batch')}\r\n--${BOUNDARY}--\r\n`);
    await expect(reading).rejects.toMatchObject({ message: 'no thanks' });
  });
});
