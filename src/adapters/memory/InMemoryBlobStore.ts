import { BlobChangedError, type BlobBlocks, type BlobProperties, type BlobStore } from '../../app/ports.js';

interface StoredBlob {
  content: Buffer;
  etag: string;
  metadata: Record<string, string>;
  /** The blocks it was committed from, in order (none when written whole). */
  blocks?: ReadonlyArray<{ readonly id: string; readonly content: Buffer }>;
}

export class InMemoryBlobStore implements BlobStore {
  readonly #blobs = new Map<string, StoredBlob>();
  /** Staged, not yet committed blocks per blob, in staging order (a re-staged id keeps its place, takes the new content). */
  readonly #staged = new Map<string, Map<string, Buffer>>();
  #version = 0;
  /** Chunk size of reads, small by default so tests exercise chunk boundaries. */
  readChunkBytes = 7;

  #key(container: string, name: string): string {
    return `${container}/${name}`;
  }

  put(container: string, name: string, content: Buffer | string, metadata: Record<string, string> = {}): string {
    this.#version += 1;
    const etag = `"0x${this.#version.toString(16)}"`;
    this.#blobs.set(this.#key(container, name), { content: Buffer.from(content), etag, metadata: { ...metadata } });
    return etag;
  }

  /** Removes a blob, as a user deleting an input would; true if there was one. */
  delete(container: string, name: string): boolean {
    return this.#blobs.delete(this.#key(container, name));
  }

  async getProperties(container: string, name: string): Promise<BlobProperties | undefined> {
    const blob = this.#blobs.get(this.#key(container, name));
    return blob === undefined
      ? undefined
      : { etag: blob.etag, size: blob.content.length, metadata: { ...blob.metadata } };
  }

  #pinned(container: string, name: string, etag: string): StoredBlob {
    const blob = this.#blobs.get(this.#key(container, name));
    if (blob === undefined || blob.etag !== etag) throw new BlobChangedError(container, name);
    return blob;
  }

  async openRead(
    container: string,
    name: string,
    options: { etag: string; offset?: number; size?: number },
  ): Promise<AsyncIterable<Buffer>> {
    const content = this.#pinned(container, name, options.etag).content.subarray(options.offset ?? 0);
    const size = this.readChunkBytes;
    return (async function* () {
      for (let at = 0; at < content.length; at += size) yield Buffer.from(content.subarray(at, at + size));
    })();
  }

  async readRange(
    container: string,
    name: string,
    options: { etag: string; offset: number; length: number },
  ): Promise<Buffer> {
    return Buffer.from(
      this.#pinned(container, name, options.etag).content.subarray(options.offset, options.offset + options.length),
    );
  }

  async setMetadata(
    container: string,
    name: string,
    metadata: Record<string, string>,
    options: { etag: string },
  ): Promise<void> {
    const blob = this.#pinned(container, name, options.etag);
    this.#version += 1;
    blob.metadata = { ...metadata };
    blob.etag = `"0x${this.#version.toString(16)}"`;
  }

  async upload(container: string, name: string, content: AsyncIterable<string | Buffer> | string): Promise<void> {
    let buffer: Buffer;
    if (typeof content === 'string') buffer = Buffer.from(content);
    else {
      const parts: Buffer[] = [];
      for await (const part of content) parts.push(Buffer.from(part));
      buffer = Buffer.concat(parts);
    }
    this.put(container, name, buffer);
  }

  async deletePrefix(container: string, prefix: string): Promise<number> {
    const start = this.#key(container, prefix);
    for (const key of this.#staged.keys()) if (key.startsWith(start)) this.#staged.delete(key);
    const names = [...this.#blobs.keys()].filter((key) => key.startsWith(start));
    for (const key of names) this.#blobs.delete(key);
    return names.length;
  }

  async download(container: string, name: string): Promise<Buffer | undefined> {
    return this.#blobs.get(this.#key(container, name))?.content;
  }

  async ensureContainer(): Promise<void> {}

  async stageBlock(container: string, name: string, blockId: string, content: string): Promise<void> {
    const key = this.#key(container, name);
    const staged = this.#staged.get(key) ?? new Map<string, Buffer>();
    const lengths = new Set(
      [...staged.keys(), ...(this.#blobs.get(key)?.blocks ?? []).map((b) => b.id)].map((id) => id.length),
    );
    if (lengths.size > 0 && !lengths.has(blockId.length))
      throw new Error(`Block id ${blockId} has another length than the blob's other block ids`);
    staged.set(blockId, Buffer.from(content));
    this.#staged.set(key, staged);
  }

  async listBlocks(container: string, name: string): Promise<BlobBlocks> {
    const key = this.#key(container, name);
    return {
      committed: (this.#blobs.get(key)?.blocks ?? []).map((b) => b.id),
      uncommitted: [...(this.#staged.get(key)?.keys() ?? [])],
    };
  }

  async commitBlocks(container: string, name: string, blockIds: readonly string[]): Promise<void> {
    const key = this.#key(container, name);
    const staged = this.#staged.get(key) ?? new Map<string, Buffer>();
    const committed = new Map((this.#blobs.get(key)?.blocks ?? []).map((b) => [b.id, b.content] as const));
    const blocks = blockIds.map((id) => {
      const content = staged.get(id) ?? committed.get(id);
      if (content === undefined) throw new Error(`Block ${id} of ${key} is neither staged nor committed`);
      return { id, content };
    });
    this.put(container, name, Buffer.concat(blocks.map((b) => b.content)));
    this.#blobs.get(key)!.blocks = blocks;
    // A commit drops every staged block, listed or not.
    this.#staged.delete(key);
  }
}
