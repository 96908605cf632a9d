import { expect, it } from 'vitest';
import { BlobChangedError, type BlobStore } from '../../src/app/ports.js';

async function readAll(opening: Promise<AsyncIterable<Buffer>>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of await opening) parts.push(part);
  return Buffer.concat(parts);
}

/**
 * What the ingest and the worker rely on: a version pinned by its ETag is read as it was, or refused
 * with a BlobChangedError.
 */
export function itRefusesAChangedVersion(getStore: () => BlobStore, container: string): void {
  it('reads a pinned version, refuses reads and metadata writes of a changed one with a BlobChangedError', async () => {
    const blobs = getStore();
    await blobs.ensureContainer(container);
    await blobs.upload(container, 'pinned.jsonl', 'line one\n', { contentType: 'application/jsonl' });
    const { etag } = (await blobs.getProperties(container, 'pinned.jsonl'))!;
    expect((await readAll(blobs.openRead(container, 'pinned.jsonl', { etag }))).toString()).toBe('line one\n');

    await blobs.upload(container, 'pinned.jsonl', 'replaced\n', { contentType: 'application/jsonl' });
    const refused: Array<() => Promise<unknown>> = [
      () => readAll(blobs.openRead(container, 'pinned.jsonl', { etag })),
      () => readAll(blobs.openRead(container, 'pinned.jsonl', { etag, size: 9 })),
      () => blobs.readRange(container, 'pinned.jsonl', { etag, offset: 0, length: 4 }),
      () => blobs.setMetadata(container, 'pinned.jsonl', { jobid: 'x' }, { etag }),
      () => readAll(blobs.openRead(container, 'missing.jsonl', { etag })),
    ];
    for (const attempt of refused) await expect(attempt()).rejects.toBeInstanceOf(BlobChangedError);
  });
}
