import { RestError, type AppendBlobClient, type BlobServiceClient } from '@azure/storage-blob';
import type { QueueClient } from '@azure/storage-queue';
import type { BacklogRead, Backlogs } from '../../app/ports.js';
import { backlogText, parseBacklogLines } from '../../core/backlogLines.js';

/** Azure's largest append block. */
const MAX_BLOCK_BYTES = 4 * 1024 * 1024;

/** The backlog blob of a job: beside its other files, so deleting the job's files (API or retention) takes it too. */
export function backlogBlobName(jobId: string): string {
  return `${jobId}/backlog.jsonl`;
}

/** One append blob per job (decision 0012): each send is one append block of whole JSON lines. */
export class AzureBlobBacklogs implements Backlogs {
  readonly #created = new Set<string>();

  constructor(
    private readonly service: BlobServiceClient,
    private readonly container: string,
  ) {}

  #blob(jobId: string): AppendBlobClient {
    return this.service.getContainerClient(this.container).getAppendBlobClient(backlogBlobName(jobId));
  }

  async send(jobId: string, payloads: readonly unknown[]): Promise<void> {
    if (payloads.length === 0) return;
    const blob = this.#blob(jobId);
    if (!this.#created.has(jobId)) {
      await blob.createIfNotExists({ blobHTTPHeaders: { blobContentType: 'application/x-ndjson' } });
      this.#created.add(jobId);
    }
    for (const block of blocksOf(payloads)) await blob.appendBlock(block, block.length);
  }

  async read(jobId: string, fromOffset: number, maxBytes: number): Promise<BacklogRead> {
    const blob = this.#blob(jobId);
    let size = Math.max(1, maxBytes);
    for (;;) {
      const read = await this.#range(blob, fromOffset, size);
      if (read === undefined) return { messages: [], length: await this.length(jobId) };
      const messages = parseBacklogLines(read.bytes, fromOffset);
      // A message longer than the read: read again, wider, rather than return nothing while there is more.
      if (messages.length > 0 || fromOffset + read.bytes.length >= read.length)
        return { messages, length: read.length };
      size *= 2;
    }
  }

  /** Bytes from `offset` and the blob's length; undefined at or past its end (or if it does not exist). */
  async #range(blob: AppendBlobClient, offset: number, count: number) {
    try {
      const response = await blob.download(offset, count);
      const bytes = await streamBytes(response.readableStreamBody);
      const total = /\/(\d+)$/.exec(response.contentRange ?? '')?.[1];
      return { bytes, length: total === undefined ? offset + bytes.length : Number(total) };
    } catch (error) {
      if (error instanceof RestError && (error.statusCode === 404 || error.statusCode === 416)) return undefined;
      throw error;
    }
  }

  async length(jobId: string): Promise<number> {
    try {
      return (await this.#blob(jobId).getProperties()).contentLength ?? 0;
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 404) return 0;
      throw error;
    }
  }

  async drop(jobId: string): Promise<void> {
    this.#created.delete(jobId);
    await this.#blob(jobId).deleteIfExists();
  }
}

/** The payloads as append blocks of whole lines, each within Azure's block size. */
function blocksOf(payloads: readonly unknown[]): Buffer[] {
  const blocks: Buffer[] = [];
  let lines: Buffer[] = [];
  let size = 0;
  for (const payload of payloads) {
    const line = Buffer.from(backlogText([payload]));
    if (size + line.length > MAX_BLOCK_BYTES && lines.length > 0) {
      blocks.push(Buffer.concat(lines));
      lines = [];
      size = 0;
    }
    lines.push(line);
    size += line.length;
  }
  if (lines.length > 0) blocks.push(Buffer.concat(lines));
  return blocks;
}

async function streamBytes(stream: NodeJS.ReadableStream | undefined): Promise<Buffer> {
  if (stream === undefined) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** The work queue's depth, as the service counts it: messages out of sight (leased, delayed) included. */
export class AzureQueueDepth {
  constructor(private readonly queue: QueueClient) {}

  async approximateCount(): Promise<number> {
    return (await this.queue.getProperties()).approximateMessagesCount ?? 0;
  }
}
