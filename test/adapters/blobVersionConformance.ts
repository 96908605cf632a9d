import { expect, it } from 'vitest';
import { BlobChangedError, type BlobStore } from '../../src/app/ports.js';

async function readAll(opening: Promise<AsyncIterable<Buffer>>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of await opening) parts.push(part);
  return Buffer.concat(parts);
}

/** What the ingest and the worker rely on: a version pinned by its ETag is read as it was, or refused with a BlobChangedError. */
export function itRefusesAChangedVersion(getStore: () => BlobStore, container: string): void {
  it('reads a pinned version, and refuses reads and metadata writes of a version that changed with a BlobChangedError', async () => {
    const blobs = getStore();
    await blobs.ensureContainer(container);
    await blobs.upload(container, 'pinned.jsonl', 'line one\n', { contentType: 'application/jsonl' });
    const { etag } = (await blobs.getProperties(container, 'pinned.jsonl'))!;
    expect((await readAll(blobs.openRead(container, 'pinned.jsonl', { etag }))).toString()).toBe('line one\n');

    await blobs.upload(container, 'pinned.jsonl', 'replaced\n', { contentType: 'application/jsonl' });
    await expect(readAll(blobs.openRead(container, 'pinned.jsonl', { etag }))).rejects.toBeInstanceOf(BlobChangedError);
    await expect(readAll(blobs.openRead(container, 'pinned.jsonl', { etag, size: 9 }))).rejects.toBeInstanceOf(BlobChangedError);
    await expect(blobs.readRange(container, 'pinned.jsonl', { etag, offset: 0, length: 4 })).rejects.toBeInstanceOf(BlobChangedError);
    await expect(blobs.setMetadata(container, 'pinned.jsonl', { jobid: 'x' }, { etag })).rejects.toBeInstanceOf(BlobChangedError);
    await expect(readAll(blobs.openRead(container, 'missing.jsonl', { etag }))).rejects.toBeInstanceOf(BlobChangedError);
  });
}
