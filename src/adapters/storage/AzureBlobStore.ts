import { RestError, type BlobServiceClient } from '@azure/storage-blob';
import { BlobChangedError, type BlobBlocks, type BlobProperties, type BlobStore } from '../../app/ports.js';

const READ_BLOCK_BYTES = 4 * 1024 * 1024;
const FIRST_READ_BYTES = 256 * 1024;

const isStatus = (error: unknown, ...statuses: number[]): boolean =>
  error instanceof RestError && error.statusCode !== undefined && statuses.includes(error.statusCode);

export class AzureBlobStore implements BlobStore {
  constructor(private readonly service: BlobServiceClient) {}

  async getProperties(container: string, name: string): Promise<BlobProperties | undefined> {
    try {
      const p = await this.service.getContainerClient(container).getBlobClient(name).getProperties();
      return { etag: p.etag ?? '', size: p.contentLength ?? 0, metadata: p.metadata ?? {} };
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  }

  /**
   * Reads the pinned version as a sequence of 4 MiB range reads, one ahead of the consumer. A single
   * streamed download does not apply back-pressure through the SDK: it buffers the whole blob in memory,
   * which a 1 GB input cannot afford. Ranges keep memory at two blocks whatever the size. The first range
   * is small, so the first lines (and a job's first messages) do not wait for a whole block to arrive.
   */
  async openRead(
    container: string,
    name: string,
    options: { etag: string; offset?: number; size?: number },
  ): Promise<AsyncIterable<Buffer>> {
    const blob = this.service.getContainerClient(container).getBlobClient(name);
    let size = options.size;
    if (size === undefined) {
      try {
        const properties = await blob.getProperties({ conditions: { ifMatch: options.etag } });
        size = properties.contentLength ?? 0;
      } catch (error) {
        if (isStatus(error, 404, 412)) throw new BlobChangedError(container, name, { cause: error });
        throw error;
      }
    }
    const read = async (offset: number, length: number): Promise<Buffer> => {
      try {
        return await blob.downloadToBuffer(offset, length, {
          conditions: { ifMatch: options.etag },
          blockSize: READ_BLOCK_BYTES,
          concurrency: 1,
        });
      } catch (error) {
        if (isStatus(error, 404, 412)) throw new BlobChangedError(container, name, { cause: error });
        throw error;
      }
    };
    const end = size;
    return (async function* () {
      let offset = options.offset ?? 0;
      let length = Math.min(FIRST_READ_BYTES, end - offset);
      let next = length > 0 ? read(offset, length) : undefined;
      while (next !== undefined) {
        const current = next;
        offset += length;
        length = Math.min(READ_BLOCK_BYTES, end - offset);
        next = length > 0 ? read(offset, length) : undefined;
        // A rejected prefetch must not go unhandled if the consumer stops early.
        next?.catch(() => undefined);
        yield await current;
      }
    })();
  }

  async readRange(
    container: string,
    name: string,
    options: { etag: string; offset: number; length: number },
  ): Promise<Buffer> {
    const blob = this.service.getContainerClient(container).getBlobClient(name);
    try {
      return await blob.downloadToBuffer(options.offset, options.length, { conditions: { ifMatch: options.etag } });
    } catch (error) {
      if (isStatus(error, 404, 412)) throw new BlobChangedError(container, name, { cause: error });
      throw error;
    }
  }

  async setMetadata(
    container: string,
    name: string,
    metadata: Record<string, string>,
    options: { etag: string },
  ): Promise<void> {
    const blob = this.service.getContainerClient(container).getBlobClient(name);
    try {
      await blob.setMetadata(metadata, { conditions: { ifMatch: options.etag } });
    } catch (error) {
      if (isStatus(error, 404, 412)) throw new BlobChangedError(container, name, { cause: error });
      throw error;
    }
  }

  async upload(
    container: string,
    name: string,
    content: AsyncIterable<string | Buffer> | string,
    options: { contentType: string },
  ): Promise<void> {
    const blob = this.service.getContainerClient(container).getBlockBlobClient(name);
    const headers = { blobHTTPHeaders: { blobContentType: options.contentType } };
    if (typeof content === 'string') {
      await blob.upload(content, Buffer.byteLength(content), headers);
      return;
    }
    const { Readable } = await import('node:stream');
    const source = Readable.from(content, { objectMode: false });
    // 4 MiB blocks, 2 in flight: bounded memory whatever the file's size.
    await blob.uploadStream(source, 4 * 1024 * 1024, 2, headers);
  }

  async download(container: string, name: string): Promise<Buffer | undefined> {
    try {
      return await this.service.getContainerClient(container).getBlobClient(name).downloadToBuffer();
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  }

  async ensureContainer(container: string): Promise<void> {
    await this.service.getContainerClient(container).createIfNotExists();
  }

  async deletePrefix(container: string, prefix: string): Promise<number> {
    const client = this.service.getContainerClient(container);
    let deleted = 0;
    // With the blobs that have staged blocks only (a part staged, the file never committed).
    for await (const blob of client.listBlobsFlat({ prefix, includeUncommitedBlobs: true })) {
      try {
        await client.deleteBlob(blob.name, { deleteSnapshots: 'include' });
        deleted += 1;
      } catch (error) {
        // Deleted meanwhile (another deletion, the lifecycle rule): what was asked for holds.
        if (!isStatus(error, 404)) throw error;
      }
    }
    return deleted;
  }

  async stageBlock(container: string, name: string, blockId: string, content: string): Promise<void> {
    const body = Buffer.from(content);
    await this.service
      .getContainerClient(container)
      .getBlockBlobClient(name)
      .stageBlock(toWireBlockId(blockId), body, body.length);
  }

  async listBlocks(container: string, name: string): Promise<BlobBlocks> {
    try {
      const list = await this.service.getContainerClient(container).getBlockBlobClient(name).getBlockList('all');
      return {
        committed: (list.committedBlocks ?? []).map((b) => fromWireBlockId(b.name)),
        uncommitted: (list.uncommittedBlocks ?? []).map((b) => fromWireBlockId(b.name)),
      };
    } catch (error) {
      if (isStatus(error, 404)) return { committed: [], uncommitted: [] };
      throw error;
    }
  }

  async commitBlocks(
    container: string,
    name: string,
    blockIds: readonly string[],
    options: { contentType: string },
  ): Promise<void> {
    await this.service
      .getContainerClient(container)
      .getBlockBlobClient(name)
      .commitBlockList(blockIds.map(toWireBlockId), { blobHTTPHeaders: { blobContentType: options.contentType } });
  }
}

/** Block ids travel base64-encoded. */
const toWireBlockId = (blockId: string): string => Buffer.from(blockId).toString('base64');
const fromWireBlockId = (wire: string): string => Buffer.from(wire, 'base64').toString();
