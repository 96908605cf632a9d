import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import busboy from 'busboy';
import type { UploadForm } from '../../app/openai/files.js';
import { BadRequestError, ensureError } from '../../core/errors.js';

const LIMITS = { files: 1, fields: 16, fieldSize: 64 * 1024, parts: 20, headerPairs: 100 };

type OnFile = Parameters<UploadForm['read']>[0];

/**
 * A `multipart/form-data` request body parsed as it streams in (busboy): the `file` part reaches
 * `onFile` as a stream, so an upload is never held whole in memory. Other file parts are drained.
 */
export function multipartForm(contentType: string | null, body: WebReadableStream | Readable | null): UploadForm {
  return { read: async (onFile) => readForm(contentType, body, onFile) };
}

async function readForm(
  contentType: string | null,
  body: WebReadableStream | Readable | null,
  onFile: OnFile,
): Promise<Record<string, string>> {
  if (contentType === null || !contentType.toLowerCase().startsWith('multipart/form-data') || body === null) {
    throw new BadRequestError('Expected a multipart/form-data body with a file and a purpose');
  }
  let parser: busboy.Busboy;
  try {
    parser = busboy({ headers: { 'content-type': contentType }, limits: LIMITS });
  } catch (error) {
    throw new BadRequestError(`Malformed multipart body: ${ensureError(error).message}`);
  }
  const source = body instanceof Readable ? body : Readable.fromWeb(body);
  return new Promise((resolve, reject) => new FormReading(source, parser, onFile, { resolve, reject }).start());
}

/**
 * One read of a form: busboy's events collect the fields and hand the file part to `onFile`. The read
 * ends once the body is parsed and the file handled, or at the first failure, which stops the body.
 */
class FormReading {
  readonly #fields: Record<string, string> = {};
  /** The consumer's handling of the file part; nothing until that part arrives. */
  #fileWork: Promise<void> = Promise.resolve();
  #settled = false;

  constructor(
    private readonly source: Readable,
    private readonly parser: busboy.Busboy,
    private readonly onFile: OnFile,
    private readonly ending: {
      resolve: (fields: Record<string, string>) => void;
      reject: (error: Error) => void;
    },
  ) {}

  start(): void {
    this.parser.on('field', (name, value) => {
      this.#fields[name] = value;
    });
    this.parser.on('file', (name, stream, info) => this.#onFilePart(name, stream, info.filename));
    this.parser.on('error', (error) =>
      this.#fail(new BadRequestError(`Malformed multipart body: ${ensureError(error).message}`)),
    );
    this.parser.on('close', () => {
      this.#fileWork.then(() => this.#succeed(), this.#fail);
    });
    this.source.on('error', this.#fail);
    this.source.pipe(this.parser);
  }

  #onFilePart(name: string, stream: Readable, filename: string | undefined): void {
    if (name !== 'file') {
      stream.resume();
      return;
    }
    this.#fileWork = this.onFile(filename || 'upload.jsonl', stream, { ...this.#fields }).catch((error: unknown) => {
      stream.resume();
      this.#fail(error);
    });
  }

  #succeed(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.ending.resolve(this.#fields);
  }

  readonly #fail = (error: unknown): void => {
    if (this.#settled) return;
    this.#settled = true;
    this.source.unpipe(this.parser);
    this.source.resume();
    this.ending.reject(ensureError(error));
  };
}
