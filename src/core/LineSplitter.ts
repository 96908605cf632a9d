/** One line of a JSONL blob, located by absolute byte offset so it can be read back with a range request. */
export interface RawLine {
  /** 1-based, counting every line of the file, blank ones included. */
  readonly lineNumber: number;
  /** Offset of the line's first byte in the blob (after a leading BOM). */
  readonly byteOffset: number;
  /** Length without the line terminator (`\n` or `\r\n`). */
  readonly byteLength: number;
  /** The line's bytes, or null when it exceeded `maxLineBytes` (its bytes were never held). */
  readonly bytes: Buffer | null;
}

export interface LineSplitterOptions {
  readonly maxLineBytes: number;
  /** Where the stream starts in the blob, when resuming mid-file. */
  readonly startByteOffset?: number;
  readonly startLineNumber?: number;
}

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * Splits a byte stream into lines without ever holding more than one line (bounded by
 * `maxLineBytes`) plus one chunk. An oversized line is skipped byte by byte, not buffered.
 */
export class LineSplitter {
  readonly #maxLineBytes: number;
  #pending: Buffer[] = [];
  #pendingLength = 0;
  #oversize = false;
  #lineStart: number;
  #position: number;
  #lineNumber: number;
  #bomCheckBuffer: Buffer | null;

  constructor(options: LineSplitterOptions) {
    this.#maxLineBytes = options.maxLineBytes;
    this.#position = options.startByteOffset ?? 0;
    this.#lineStart = this.#position;
    this.#lineNumber = options.startLineNumber ?? 1;
    this.#bomCheckBuffer = this.#position === 0 ? Buffer.alloc(0) : null;
  }

  /** Absolute offset just after the last complete line emitted: a safe resume point. */
  get committedByteOffset(): number {
    return this.#lineStart;
  }

  get nextLineNumber(): number {
    return this.#lineNumber;
  }

  push(chunk: Buffer): RawLine[] {
    const lines: RawLine[] = [];
    let data = chunk;
    if (this.#bomCheckBuffer !== null) {
      // The BOM may arrive split across chunks; hold up to three bytes until we know.
      const head = Buffer.concat([this.#bomCheckBuffer, data]);
      if (head.length < UTF8_BOM.length && UTF8_BOM.subarray(0, head.length).equals(head)) {
        this.#bomCheckBuffer = head;
        return lines;
      }
      this.#bomCheckBuffer = null;
      data = head;
      if (head.subarray(0, UTF8_BOM.length).equals(UTF8_BOM)) {
        data = head.subarray(UTF8_BOM.length);
        this.#position += UTF8_BOM.length;
        this.#lineStart = this.#position;
      }
    }

    let start = 0;
    while (start < data.length) {
      const newline = data.indexOf(NEWLINE, start);
      const end = newline === -1 ? data.length : newline;
      this.#append(data, start, end);
      this.#position += end - start;
      if (newline === -1) break;
      this.#position += 1;
      lines.push(this.#emit());
      start = newline + 1;
    }
    return lines;
  }

  /** Flushes a final line that had no terminator. */
  end(): RawLine[] {
    if (this.#bomCheckBuffer !== null && this.#bomCheckBuffer.length > 0) {
      const partial = this.#bomCheckBuffer;
      this.#bomCheckBuffer = null;
      this.#append(partial, 0, partial.length);
      this.#position += partial.length;
    }
    if (this.#pendingLength === 0 && !this.#oversize) return [];
    return [this.#emit()];
  }

  #append(data: Buffer, start: number, end: number): void {
    if (end <= start) return;
    if (this.#oversize) {
      this.#pendingLength += end - start;
      return;
    }
    if (this.#pendingLength + (end - start) > this.#maxLineBytes + 1) {
      // +1 leaves room for a trailing CR that is not part of the content.
      this.#oversize = true;
      this.#pending = [];
      this.#pendingLength += end - start;
      return;
    }
    this.#pending.push(data.subarray(start, end));
    this.#pendingLength += end - start;
  }

  #emit(): RawLine {
    let bytes: Buffer | null = null;
    let byteLength = this.#pendingLength;
    if (!this.#oversize) {
      bytes = this.#pending.length === 1 ? Buffer.from(this.#pending[0]!) : Buffer.concat(this.#pending);
      if (bytes.length > 0 && bytes[bytes.length - 1] === CARRIAGE_RETURN) {
        bytes = bytes.subarray(0, bytes.length - 1);
        byteLength -= 1;
      }
      if (bytes.length > this.#maxLineBytes) bytes = null;
    }
    const line: RawLine = { lineNumber: this.#lineNumber, byteOffset: this.#lineStart, byteLength, bytes };
    this.#lineNumber += 1;
    this.#lineStart = this.#position;
    this.#pending = [];
    this.#pendingLength = 0;
    this.#oversize = false;
    return line;
  }
}
