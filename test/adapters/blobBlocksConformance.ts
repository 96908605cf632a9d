import { expect, it } from 'vitest';
import type { BlobStore } from '../../src/app/ports.js';

/** What the result parts rely on: staged blocks stay invisible until committed, and a commit is repeatable. */
export function itKeepsBlockBlobsLikeAzure(getStore: () => BlobStore, container: string): void {
  it('stages blocks invisibly, commits them in the order given, and commits the same list again to the same content', async () => {
    const blobs = getStore();
    await blobs.ensureContainer(container);
    expect(await blobs.listBlocks(container, 'parts/a.jsonl')).toEqual({ committed: [], uncommitted: [] });
    await blobs.stageBlock(container, 'parts/a.jsonl', 'block-2', 'two\n');
    await blobs.stageBlock(container, 'parts/a.jsonl', 'block-1', 'one\n');
    expect(await blobs.download(container, 'parts/a.jsonl')).toBeUndefined();
    expect([...(await blobs.listBlocks(container, 'parts/a.jsonl')).uncommitted].sort()).toEqual([
      'block-1',
      'block-2',
    ]);

    await blobs.commitBlocks(container, 'parts/a.jsonl', ['block-1', 'block-2'], { contentType: 'application/jsonl' });
    expect((await blobs.download(container, 'parts/a.jsonl'))!.toString()).toBe('one\ntwo\n');
    expect(await blobs.listBlocks(container, 'parts/a.jsonl')).toEqual({
      committed: ['block-1', 'block-2'],
      uncommitted: [],
    });
    await blobs.commitBlocks(container, 'parts/a.jsonl', ['block-1', 'block-2'], { contentType: 'application/jsonl' });
    expect((await blobs.download(container, 'parts/a.jsonl'))!.toString()).toBe('one\ntwo\n');

    await blobs.commitBlocks(container, 'parts/empty.jsonl', [], { contentType: 'application/jsonl' });
    expect((await blobs.download(container, 'parts/empty.jsonl'))!.toString()).toBe('');
  });
}
