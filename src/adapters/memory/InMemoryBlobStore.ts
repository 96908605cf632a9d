import type { BlobProperties, BlobStore } from '../../app/ports.js';
import { Phi3BatchError } from '../../core/errors.js';

interface StoredBlob {
  content: Buffer;
  etag: string;
  metadata: Record<string, string>;
}

const changed = (container: string, name: string) =>
  new Phi3BatchError('input_changed', `Blob ${container}/${name} changed or was deleted after the job started`);

export class InMemoryBlobStore implements BlobStore {
  readonly #blobs = new Map<string, StoredBlob>();
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

  async getProperties(container: string, name: string): Promise<BlobProperties | undefined> {
    const blob = this.#blobs.get(this.#key(container, name));
    return blob === undefined ? undefined : { etag: blob.etag, size: blob.content.length, metadata: { ...blob.metadata } };
  }

  #pinned(container: string, name: string, etag: string): StoredBlob {
    const blob = this.#blobs.get(this.#key(container, name));
    if (blob === undefined || blob.etag !== etag) throw changed(container, name);
    return blob;
  }

  async openRead(container: string, name: string, options: { etag: string; offset?: number }): Promise<AsyncIterable<Buffer>> {
    const content = this.#pinned(container, name, options.etag).content.subarray(options.offset ?? 0);
    const size = this.readChunkBytes;
    return (async function* () {
      for (let at = 0; at < content.length; at += size) yield Buffer.from(content.subarray(at, at + size));
    })();
  }

  async readRange(container: string, name: string, options: { etag: string; offset: number; length: number }): Promise<Buffer> {
    return Buffer.from(this.#pinned(container, name, options.etag).content.subarray(options.offset, options.offset + options.length));
  }

  async setMetadata(container: string, name: string, metadata: Record<string, string>, options: { etag: string }): Promise<void> {
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

  async download(container: string, name: string): Promise<Buffer | undefined> {
    return this.#blobs.get(this.#key(container, name))?.content;
  }

  async ensureContainer(): Promise<void> {}
}
