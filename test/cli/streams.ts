import { Writable } from 'node:stream';

/** A writable that keeps what was written; `isTTY`/`columns` make it pass for a terminal. */
export class CapturingStream extends Writable {
  readonly chunks: string[] = [];
  isTTY: boolean;
  columns = 120;

  constructor(options: { isTTY?: boolean } = {}) {
    super();
    this.isTTY = options.isTTY ?? false;
  }

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.chunks.push(chunk.toString());
    callback();
  }

  get text(): string {
    return this.chunks.join('');
  }

  get lines(): string[] {
    return this.text.split('\n').filter((line) => line !== '');
  }
}
