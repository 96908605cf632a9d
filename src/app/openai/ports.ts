/** A file uploaded through the Files API, as stored. */
export interface StoredFile {
  readonly id: string;
  readonly bytes: number;
  readonly createdAtInMs: number;
  readonly filename: string;
  readonly purpose: string;
}

/** Uploaded files, kept as blobs (the input container, under `files/`). */
export interface FileStore {
  /** Streams `content` into a new file; never holds it whole. Fails with FileTooLargeError past `maxBytes`. */
  upload(
    file: Omit<StoredFile, 'bytes'>,
    content: AsyncIterable<Buffer>,
    options: { maxBytes: number },
  ): Promise<StoredFile>;
  get(id: string): Promise<StoredFile | undefined>;
  /** Files in id order, from after `afterId`. */
  list(options: { afterId?: string | undefined }): AsyncIterable<StoredFile>;
  /** The file's bytes, streamed; undefined when it does not exist. */
  openRead(id: string): Promise<AsyncIterable<Buffer> | undefined>;
  /** False when there was no such file. */
  delete(id: string): Promise<boolean>;
  /**
   * Copies the file, server side, to `target` (a batch's own input: later deletes of the file leave the
   * batch alone), with `metadata` on the copy; returns the copy's ETag and size.
   */
  copyTo(
    id: string,
    target: { container: string; name: string },
    metadata: Record<string, string>,
  ): Promise<{ etag: string; size: number } | undefined>;
}

/** The upload is bigger than the service takes. */
export class FileTooLargeError extends Error {
  override readonly name = 'FileTooLargeError';
  readonly code = 'file_too_large';
  constructor(maxBytes: number) {
    super(`The file is larger than ${maxBytes} bytes`);
  }
}
