import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import busboy from 'busboy';
import type { UploadForm } from '../../app/openai/files.js';
import { BadRequestError, ensureError } from '../../core/errors.js';

const LIMITS = { files: 1, fields: 16, fieldSize: 64 * 1024, parts: 20, headerPairs: 100 };

/**
 * A `multipart/form-data` request body parsed as it streams in (busboy): the `file` part reaches
 * `onFile` as a stream, so an upload is never held whole in memory. Other file parts are drained.
 */
export function multipartForm(contentType: string | null, body: WebReadableStream | Readable | null): UploadForm {
  return {
    read: (onFile) =>
      new Promise((resolve, reject) => {
        if (contentType === null || !contentType.toLowerCase().startsWith('multipart/form-data') || body === null) {
          reject(new BadRequestError('Expected a multipart/form-data body with a file and a purpose'));
          return;
        }
        let parser: busboy.Busboy;
        try {
          parser = busboy({ headers: { 'content-type': contentType }, limits: LIMITS });
        } catch (error) {
          reject(new BadRequestError(`Malformed multipart body: ${ensureError(error).message}`));
          return;
        }
        const source = body instanceof Readable ? body : Readable.fromWeb(body);
        const fields: Record<string, string> = {};
        let fileWork: Promise<void> = Promise.resolve();
        let settled = false;
        const fail = (error: unknown): void => {
          if (settled) return;
          settled = true;
          source.unpipe(parser);
          source.resume();
          reject(ensureError(error));
        };
        parser.on('field', (name, value) => {
          fields[name] = value;
        });
        parser.on('file', (name, stream, info) => {
          if (name !== 'file') {
            stream.resume();
            return;
          }
          fileWork = onFile(info.filename || 'upload.jsonl', stream, { ...fields }).catch((error: unknown) => {
            stream.resume();
            fail(error);
          });
        });
        parser.on('error', (error) =>
          fail(new BadRequestError(`Malformed multipart body: ${ensureError(error).message}`)),
        );
        parser.on('close', () => {
          fileWork.then(() => {
            if (settled) return;
            settled = true;
            resolve(fields);
          }, fail);
        });
        source.on('error', fail);
        source.pipe(parser);
      }),
  };
}
