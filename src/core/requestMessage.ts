import type { ChatCompletionBody } from './chat.js';
import { parsed, rejected, type ParseResult } from './parseResult.js';

/** Where a job's input lives; the ETag pins the version the line offsets refer to. */
export interface InputBlobRef {
  readonly container: string;
  readonly name: string;
  readonly etag: string;
}

/** One request carried by a queue message: inline, or by reference to its bytes in the input blob. */
export type RequestItem = (
  | { readonly line: number; readonly id: string; readonly body: ChatCompletionBody }
  | { readonly line: number; readonly id: string; readonly ref: { readonly offset: number; readonly length: number } }
) & {
  /** Calls made for this line in earlier rounds (a retry of failed lines), so attempts add up per line. */
  readonly prior?: number;
};

/** The work-queue message: several requests of one job, so queue and storage transactions per line stay small. */
export interface RequestMessage {
  readonly v: 1;
  readonly kind: 'requests';
  readonly jobId: string;
  /** Deterministic per job: re-running ingest produces the same sequence, which makes resends recognisable. */
  readonly seq: number;
  readonly input: InputBlobRef;
  readonly items: readonly RequestItem[];
  /**
   * Set by an ingest that is the first to read its part of the file: no earlier send of these lines
   * exists, so on its first delivery none of them can have an outcome and the worker need not look.
   * Absent on everything else (a resumed ingest's sends, re-queued and resubmitted lines).
   */
  readonly firstSend?: true;
  /**
   * The weight the feeder scheduled the message at (decision 0012): its job's priority, or more for a
   * job behind its completion window. Its lines wait for a call slot by it; absent, by the job's priority.
   */
  readonly weight?: number;
}

export interface PackRequestsOptions {
  /** Largest serialised message, before base64. Azure's 64 KB limit applies after encoding: 48 KB raw fits. */
  readonly maxMessageBytes: number;
  readonly maxItemsPerMessage: number;
  /**
   * Carry request bodies in the message. Off by default: items then only point at their bytes in the
   * pinned input blob (about 60 bytes each), and the worker reads a message's lines back with one
   * range read, which keeps queue traffic to a fraction of the file's size.
   */
  readonly inlineBodies?: boolean;
}

/**
 * Packs requests into messages in arrival order. Deterministic for a given input, so a resumed
 * ingest numbers its messages exactly as the first attempt did.
 */
export class RequestMessagePacker {
  readonly #options: PackRequestsOptions;
  readonly #jobId: string;
  readonly #input: InputBlobRef;
  readonly #envelopeBytes: number;
  readonly #firstSend: boolean;
  #items: RequestItem[] = [];
  #itemJson: string[] = [];
  #bytes = 0;
  #nextSeq: number;

  constructor(
    jobId: string,
    input: InputBlobRef,
    options: PackRequestsOptions,
    firstSeq = 0,
    stamp: { firstSend?: boolean } = {},
  ) {
    this.#jobId = jobId;
    this.#input = input;
    this.#options = options;
    this.#nextSeq = firstSeq;
    this.#firstSend = stamp.firstSend === true;
    // Envelope size with a generous seq and the flag, so the estimate never undercounts and packing does not depend on the flag.
    this.#envelopeBytes = Buffer.byteLength(
      JSON.stringify({
        v: 1,
        kind: 'requests',
        jobId,
        seq: Number.MAX_SAFE_INTEGER,
        input,
        items: [],
        firstSend: true,
      }),
    );
  }

  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** Adds a request; returns the message it completed, if adding it filled one. */
  add(
    line: number,
    id: string,
    body: ChatCompletionBody,
    source: { offset: number; length: number },
    prior = 0,
  ): RequestMessage[] {
    const room = this.#options.maxMessageBytes - this.#envelopeBytes;
    const extra = prior > 0 ? { prior } : {};
    const byReference: RequestItem = { line, id, ref: { offset: source.offset, length: source.length }, ...extra };
    let item: RequestItem = this.#options.inlineBodies === true ? { line, id, body, ...extra } : byReference;
    let json = JSON.stringify(item);
    let itemBytes = Buffer.byteLength(json) + 1;
    if (itemBytes > room && 'body' in item) {
      // Too big to travel inline: the worker reads the line back from the pinned blob version.
      item = byReference;
      json = JSON.stringify(item);
      itemBytes = Buffer.byteLength(json) + 1;
    }
    const completed: RequestMessage[] = [];
    if (
      this.#items.length > 0 &&
      (this.#bytes + itemBytes > room || this.#items.length >= this.#options.maxItemsPerMessage)
    ) {
      completed.push(this.#take());
    }
    this.#items.push(item);
    this.#itemJson.push(json);
    this.#bytes += itemBytes;
    return completed;
  }

  flush(): RequestMessage[] {
    return this.#items.length === 0 ? [] : [this.#take()];
  }

  #take(): RequestMessage {
    const message: RequestMessage = {
      v: 1,
      kind: 'requests',
      jobId: this.#jobId,
      seq: this.#nextSeq,
      input: this.#input,
      items: this.#items,
      ...(this.#firstSend ? { firstSend: true } : {}),
    };
    // Each item was serialised to measure it; the message reuses those strings instead of serialising again.
    SERIALIZED.set(
      message,
      `{"v":1,"kind":"requests","jobId":${JSON.stringify(this.#jobId)},"seq":${message.seq},"input":${JSON.stringify(this.#input)},"items":[${this.#itemJson.join(',')}]${this.#firstSend ? ',"firstSend":true' : ''}}`,
    );
    this.#nextSeq += 1;
    this.#items = [];
    this.#itemJson = [];
    this.#bytes = 0;
    return message;
  }
}

const SERIALIZED = new WeakMap<object, string>();

/** A payload as JSON: the packer's own serialisation when it made the message, else JSON.stringify. */
export function payloadJson(payload: unknown): string {
  return (
    (typeof payload === 'object' && payload !== null ? SERIALIZED.get(payload) : undefined) ?? JSON.stringify(payload)
  );
}

/** Narrows an untrusted queue payload to a RequestMessage, or says what is wrong with it. */
export function parseRequestMessage(payload: unknown): ParseResult<RequestMessage> {
  const problem = problemOfRequestMessage(payload);
  return problem === undefined ? parsed(payload as RequestMessage) : rejected(problem);
}

/** What makes the payload no work message, if anything. */
function problemOfRequestMessage(payload: unknown): string | undefined {
  if (typeof payload !== 'object' || payload === null) return 'message is not a JSON object';
  const m = payload as Record<string, unknown>;
  if (m['v'] !== 1 || m['kind'] !== 'requests') return 'unknown message version or kind';
  if (typeof m['jobId'] !== 'string' || typeof m['seq'] !== 'number') return 'jobId or seq missing';
  const input = m['input'] as Record<string, unknown> | undefined;
  if (
    typeof input !== 'object' ||
    input === null ||
    typeof input['container'] !== 'string' ||
    typeof input['name'] !== 'string' ||
    typeof input['etag'] !== 'string'
  ) {
    return 'input blob reference missing';
  }
  if (!Array.isArray(m['items'])) return 'items missing';
  if (m['firstSend'] !== undefined && m['firstSend'] !== true) return 'firstSend, when present, must be true';
  if (m['weight'] !== undefined && !(typeof m['weight'] === 'number' && m['weight'] >= 1))
    return 'weight, when present, must be a number from 1';
  for (const item of m['items'] as unknown[]) {
    const i = item as Record<string, unknown> | null;
    if (typeof i !== 'object' || i === null || typeof i['line'] !== 'number' || typeof i['id'] !== 'string') {
      return 'an item lacks line or id';
    }
    if (!('body' in i) && !('ref' in i)) return 'an item has neither body nor ref';
  }
  return undefined;
}
