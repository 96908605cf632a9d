import { Readable, Transform } from 'node:stream';
import { RestError, type BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { FileTooLargeError, type FileStore, type StoredFile } from '../../app/openai/ports.js';

const PREFIX = 'files/';
const BLOCK_BYTES = 4 * 1024 * 1024;
const META = { filename: 'filename', purpose: 'purpose', createdAt: 'createdat' } as const;

const isStatus = (error: unknown, ...statuses: number[]): boolean =>
  error instanceof RestError && error.statusCode !== undefined && statuses.includes(error.statusCode);

/** Azure metadata values are ASCII: the file name travels URI-encoded. */
const toMetadata = (file: Omit<StoredFile, 'bytes'>): Record<string, string> => ({
  [META.filename]: encodeURIComponent(file.filename),
  [META.purpose]: file.purpose,
  [META.createdAt]: String(file.createdAtInMs),
});

function fromMetadata(
  id: string,
  bytes: number,
  metadata: Record<string, string> | undefined,
  lastModified: Date | undefined,
): StoredFile {
  const createdAt = Number(metadata?.[META.createdAt]);
  let filename = id;
  try {
    filename = decodeURIComponent(metadata?.[META.filename] ?? id);
  } catch {
    // Left as the id.
  }
  return {
    id,
    bytes,
    filename,
    purpose: metadata?.[META.purpose] ?? 'batch',
    createdAtInMs: Number.isFinite(createdAt) ? createdAt : (lastModified?.getTime() ?? 0),
  };
}

/** Uploaded files as block blobs `files/<id>` in one container: names without `.jsonl`, so no ingest picks them up. */
export class AzureFileStore implements FileStore {
  readonly #service: BlobServiceClient;
  readonly container: ContainerClient;

  constructor(service: BlobServiceClient, containerName: string) {
    this.#service = service;
    this.container = service.getContainerClient(containerName);
  }

  async upload(
    file: Omit<StoredFile, 'bytes'>,
    content: AsyncIterable<Buffer>,
    options: { maxBytes: number },
  ): Promise<StoredFile> {
    let bytes = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        bytes += chunk.length;
        if (bytes > options.maxBytes) callback(new FileTooLargeError(options.maxBytes));
        else callback(null, chunk);
      },
    });
    const source = Readable.from(content, { objectMode: false });
    source.on('error', (error) => counter.destroy(error));
    source.pipe(counter);
    const blob = this.container.getBlockBlobClient(PREFIX + file.id);
    try {
      // 4 MiB blocks, 2 in flight: memory stays bounded whatever the file's size.
      await blob.uploadStream(counter, BLOCK_BYTES, 2, {
        metadata: toMetadata(file),
        blobHTTPHeaders: { blobContentType: 'application/jsonl' },
      });
    } catch (error) {
      await blob.deleteIfExists().catch(() => undefined);
      throw error instanceof FileTooLargeError || counter.errored === null ? error : counter.errored;
    }
    if (counter.errored !== null) {
      await blob.deleteIfExists();
      throw counter.errored;
    }
    return { ...file, bytes };
  }

  async get(id: string): Promise<StoredFile | undefined> {
    try {
      const p = await this.container.getBlobClient(PREFIX + id).getProperties();
      return fromMetadata(id, p.contentLength ?? 0, p.metadata, p.lastModified);
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  }

  async *list(options: { afterId?: string | undefined }): AsyncIterable<StoredFile> {
    for await (const item of this.container.listBlobsFlat({ prefix: PREFIX, includeMetadata: true })) {
      const id = item.name.slice(PREFIX.length);
      if (options.afterId !== undefined && id <= options.afterId) continue;
      yield fromMetadata(id, item.properties.contentLength ?? 0, item.metadata, item.properties.lastModified);
    }
  }

  async openRead(id: string): Promise<AsyncIterable<Buffer> | undefined> {
    try {
      const response = await this.container.getBlobClient(PREFIX + id).download();
      return response.readableStreamBody as AsyncIterable<Buffer> | undefined;
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  }

  async delete(id: string): Promise<boolean> {
    const response = await this.container.getBlobClient(PREFIX + id).deleteIfExists();
    return response.succeeded;
  }

  async copyTo(
    id: string,
    target: { container: string; name: string },
    metadata: Record<string, string>,
  ): Promise<{ etag: string; size: number } | undefined> {
    const source = this.container.getBlobClient(PREFIX + id);
    const destination = this.#service.getContainerClient(target.container).getBlobClient(target.name);
    try {
      // Same account: a server-side copy, authorised by the destination's credentials.
      const poller = await destination.beginCopyFromURL(source.url, { metadata });
      await poller.pollUntilDone();
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
    const p = await destination.getProperties();
    return { etag: p.etag ?? '', size: p.contentLength ?? 0 };
  }
}
