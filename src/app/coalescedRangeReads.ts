export interface RangeRequest {
  readonly etag: string;
  readonly offset: number;
  readonly length: number;
}

export type RangeRead = (container: string, name: string, range: RangeRequest) => Promise<Buffer>;

export interface CoalescingOptions {
  /** The longest read made for several requests together. */
  readonly maxSpanBytes: number;
  /** Requests further apart than this are not read together: the bytes between would be read for nothing. */
  readonly maxGapBytes: number;
}

interface Waiting {
  readonly range: RangeRequest;
  readonly resolve: (bytes: Buffer) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Range reads of one blob version asked for in the same turn of the event loop go out as one read per
 * run of neighbouring ranges: the host hands a worker a batch of work messages at once, each of which
 * reads its lines back from the input blob, and the lines of consecutive messages are consecutive in the
 * file. One transaction instead of sixteen, and the storage service serves it in one turn, where
 * sixteen queue behind whatever else it is doing. A read that fails fails every request it covered.
 */
export function coalescedRangeReads(read: RangeRead, options: CoalescingOptions): RangeRead {
  const waiting = new Map<string, { container: string; name: string; requests: Waiting[] }>();
  let scheduled = false;

  const flush = (): void => {
    scheduled = false;
    const groups = [...waiting.values()];
    waiting.clear();
    for (const { container, name, requests } of groups) {
      for (const { start, end, covered } of spansOf(requests, options)) {
        // Through a promise, so that even a read that throws before it returns one fails its requests, not the process.
        new Promise<Buffer>((resolve) =>
          resolve(read(container, name, { etag: covered[0]!.range.etag, offset: start, length: end - start })),
        ).then(
          (bytes) => {
            for (const w of covered)
              w.resolve(bytes.subarray(w.range.offset - start, w.range.offset - start + w.range.length));
          },
          (error: unknown) => {
            for (const w of covered) w.reject(error);
          },
        );
      }
    }
  };

  return (container, name, range) =>
    new Promise<Buffer>((resolve, reject) => {
      // The etag is part of the key: ranges of two versions of a blob are never read as one.
      const key = JSON.stringify([container, name, range.etag]);
      let group = waiting.get(key);
      if (group === undefined) waiting.set(key, (group = { container, name, requests: [] }));
      group.requests.push({ range, resolve, reject });
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
}

interface Span {
  readonly start: number;
  end: number;
  readonly covered: Waiting[];
}

/** Requests sorted by offset, cut into runs whose reads stay within the span and gap limits. */
function spansOf(requests: readonly Waiting[], options: CoalescingOptions): Span[] {
  const sorted = [...requests].sort((a, b) => a.range.offset - b.range.offset);
  const spans: Span[] = [];
  let current: Span | undefined;
  for (const request of sorted) {
    const { offset, length } = request.range;
    if (
      current !== undefined &&
      offset - current.end <= options.maxGapBytes &&
      Math.max(current.end, offset + length) - current.start <= options.maxSpanBytes
    ) {
      current.covered.push(request);
      current.end = Math.max(current.end, offset + length);
      continue;
    }
    current = { start: offset, end: offset + length, covered: [request] };
    spans.push(current);
  }
  return spans;
}
