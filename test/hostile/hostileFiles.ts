import fc from 'fast-check';
import { expect } from 'vitest';
import { parseControlMessage } from '../../src/core/controlMessage.js';
import { Deployments } from '../../src/app/deployments.js';
import { finalizeJob } from '../../src/app/finalizeJob.js';
import { ingestBlob, runIngestMessage, type IngestDeps, type IngestResult } from '../../src/app/ingestBlob.js';
import type { ChatClient } from '../../src/app/ports.js';
import { processRequestMessage } from '../../src/app/processRequestMessage.js';
import { createTokenCounter } from '../../src/adapters/tokenizer/index.js';
import type { LineOutcome } from '../../src/core/lineOutcome.js';
import { MAX_MAX_TOKENS, parseBatchLine } from '../../src/core/parseBatchLine.js';
import { type RequestItem, type RequestMessage } from '../../src/core/requestMessage.js';
import { requestMessageOf } from '../support/requestMessageOf.js';
import { createWorld } from '../app/fixtures.js';

export type World = ReturnType<typeof createWorld>;
export const MODEL = 'Phi-3-mini-4k-instruct';
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

// ---------------------------------------------------------------------------------------------
// The reference: what the README promises, written out plainly, line by line.
// ---------------------------------------------------------------------------------------------

export interface ReferenceLine {
  readonly lineNumber: number;
  /** Offset of the line's first byte in the blob. */
  readonly offset: number;
  /** The line without its terminator (`\n`, and one `\r` before it). */
  readonly content: Buffer;
}

/** Lines end at `\n` (JSON Lines); one `\r` before it belongs to the terminator; a leading BOM is not content. */
export function referenceLines(file: Buffer): ReferenceLine[] {
  let start = file.subarray(0, 3).equals(BOM) ? 3 : 0;
  const lines: ReferenceLine[] = [];
  for (let lineNumber = 1; start < file.length; lineNumber += 1) {
    const newline = file.indexOf(0x0a, start);
    const end = newline === -1 ? file.length : newline;
    let content = file.subarray(start, end);
    if (content.length > 0 && content[content.length - 1] === 0x0d) content = content.subarray(0, content.length - 1);
    lines.push({ lineNumber, offset: start, content });
    if (newline === -1) break;
    start = newline + 1;
  }
  return lines;
}

export type Expected =
  | { readonly kind: 'blank' }
  | { readonly kind: 'request'; readonly customId: string; readonly bodyJson: string }
  | { readonly kind: 'invalid'; readonly customId: string; readonly code: string };

export interface ReferenceLimits {
  readonly maxLineBytes: number;
  readonly maxLinesPerFile: number;
}

/** The file's rules over its lines: per-line checks, then unique custom_ids, one model, the task limit. */
export function referenceOutcomes(lines: readonly ReferenceLine[], limits: ReferenceLimits): Expected[] {
  const claimed = new Set<string>();
  let model: string | undefined;
  let tasks = 0;
  const invalid = (customId: string, code: string): Expected => {
    claimed.add(customId);
    return { kind: 'invalid', customId, code };
  };
  return lines.map((line): Expected => {
    const fallback = `~line-${line.lineNumber}`;
    if (line.content.length > limits.maxLineBytes) return invalid(fallback, 'line_too_large');
    if (line.content.length === 0) return { kind: 'blank' };
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(line.content);
    } catch {
      return invalid(fallback, 'invalid_utf8');
    }
    const parsed = parseBatchLine(text);
    if (parsed.kind === 'blank') return { kind: 'blank' };
    const customId = parsed.customId ?? fallback;
    if (parsed.kind === 'invalid') return invalid(customId, parsed.error.code);
    if (tasks >= limits.maxLinesPerFile) return invalid(customId, 'too_many_tasks');
    const named = parsed.body.model;
    if (named !== undefined) {
      if (model === undefined) model = named;
      else if (named !== model) return invalid(customId, 'model_mismatch');
    }
    if (claimed.has(customId)) return { kind: 'invalid', customId, code: 'duplicate_custom_id' };
    claimed.add(customId);
    tasks += 1;
    return { kind: 'request', customId, bodyJson: JSON.stringify(parsed.body) };
  });
}

// ---------------------------------------------------------------------------------------------
// Hostile segments: each knows what it should become when it stands alone on its line.
// ---------------------------------------------------------------------------------------------

export type Intent =
  | { readonly kind: 'valid'; readonly bodyJson: string; readonly customId: string | undefined }
  | { readonly kind: 'invalid'; readonly code: string }
  | { readonly kind: 'blank' }
  | { readonly kind: 'any' };

export interface Segment {
  readonly bytes: Buffer;
  readonly intent: Intent;
}

/** Text from every corner of Unicode, plus characters that mean something to JSON, paths and terminals. */
const TEXTS = [
  'héllo wörld',
  '😀👍🏽👨‍👩‍👧‍👦',
  'שלום עולם',
  'مرحبا بالعالم',
  '\u202Eevil\u202C',
  '漢字かなカナ',
  'nul\u0000inside',
  '\uFEFFbom inside',
  'lone \ud800 surrogate',
  'line\nbreak\r\nand\rcr',
  'sep\u2028\u2029',
  'quote " backslash \\ slash /',
  '<|user|> <|end|> <|assistant|>',
  '',
  'x'.repeat(120),
];
const ID_SUFFIXES = ['', '-é', '-😀', '-שלום', ' with space', '/../x', '?#%2F', '\\', '\u0000', '\ud83d'];
const ROLES = ['system', 'user', 'assistant', 'tool'] as const;
/** Keys that would do harm if any code treated a parsed line as a map and assigned through it. */
const HOSTILE_KEYS = [
  '"__proto__":{"polluted":"yes","messages":[{"role":"user","content":"smuggled"}]}',
  '"constructor":{"prototype":{"polluted":"yes"}}',
  '"prototype":{"polluted":"yes"}',
  '"toString":"not a function"',
  '"hasOwnProperty":1',
];

/** Inserts `"key":value,` pairs right after the opening brace of a JSON object's text. */
function withKeys(objectText: string, keys: readonly string[]): string {
  if (keys.length === 0) return objectText;
  const rest = objectText.slice(1);
  return `{${keys.join(',')}${rest === '}' ? '' : ','}${rest}`;
}

/** The body a valid line's request must carry: parsed independently of the code under test. */
function expectedBodyJson(lineText: string, batch: boolean): string {
  const parsed = JSON.parse(lineText) as Record<string, unknown>;
  if (batch) return JSON.stringify(parsed['body']);
  const body: Record<string, unknown> = {};
  for (const key of Object.keys(parsed)) {
    if (key !== 'custom_id')
      Object.defineProperty(body, key, { value: parsed[key], enumerable: true, writable: true, configurable: true });
  }
  return JSON.stringify(body);
}

export interface ValidSpec {
  readonly t: 'valid';
  readonly batch: boolean;
  readonly withId: boolean;
  readonly idSuffix: string;
  readonly messages: ReadonlyArray<{ role: (typeof ROLES)[number]; text: string; parts: boolean }>;
  readonly maxTokens: number | null | undefined;
  readonly temperature: number | null | undefined;
  readonly model: boolean;
  readonly url: '/v1/chat/completions' | '/chat/completions' | undefined;
  readonly method: boolean;
  readonly hostileTop: readonly string[];
  readonly hostileBody: readonly string[];
  readonly hostileMessage: readonly string[];
  readonly bomPrefix: boolean;
}

const validSpec: fc.Arbitrary<ValidSpec> = fc.record({
  t: fc.constant('valid' as const),
  batch: fc.boolean(),
  withId: fc.boolean(),
  idSuffix: fc.constantFrom(...ID_SUFFIXES),
  messages: fc.array(
    fc.record({ role: fc.constantFrom(...ROLES), text: fc.constantFrom(...TEXTS), parts: fc.boolean() }),
    { minLength: 1, maxLength: 3 },
  ),
  maxTokens: fc.oneof(
    fc.constant(undefined),
    fc.constant(null),
    fc.integer({ min: 1, max: 4096 }),
    fc.constant(MAX_MAX_TOKENS),
  ),
  temperature: fc.oneof(fc.constant(undefined), fc.constant(null), fc.double({ min: 0, max: 2, noNaN: true })),
  model: fc.boolean(),
  url: fc.constantFrom('/v1/chat/completions' as const, '/chat/completions' as const, undefined),
  method: fc.boolean(),
  hostileTop: fc.subarray(HOSTILE_KEYS, { maxLength: 2 }),
  hostileBody: fc.subarray(HOSTILE_KEYS, { maxLength: 2 }),
  hostileMessage: fc.subarray(HOSTILE_KEYS, { maxLength: 1 }),
  bomPrefix: fc.boolean(),
});

function chatBodyText(spec: ValidSpec): string {
  const messages = spec.messages.map((m) => {
    const content = m.parts ? [{ type: 'text', text: m.text }] : m.text;
    return withKeys(JSON.stringify({ role: m.role, content }), spec.hostileMessage);
  });
  const fields: string[] = [];
  if (spec.model) fields.push(`"model":${JSON.stringify(MODEL)}`);
  fields.push(`"messages":[${messages.join(',')}]`);
  if (spec.maxTokens !== undefined) fields.push(`"max_tokens":${JSON.stringify(spec.maxTokens)}`);
  if (spec.temperature !== undefined) fields.push(`"temperature":${JSON.stringify(spec.temperature)}`);
  return `{${fields.join(',')}}`;
}

/** One wrong thing on an otherwise valid line, and the code that names it. */
export const MUTATIONS: ReadonlyArray<readonly [string, (good: Record<string, unknown>) => string, string]> = [
  ['custom_id number', (g) => JSON.stringify({ ...g, custom_id: 42 }), 'invalid_request'],
  ['custom_id object', (g) => JSON.stringify({ ...g, custom_id: { id: 'x' } }), 'invalid_request'],
  ['custom_id null', (g) => JSON.stringify({ ...g, custom_id: null }), 'invalid_request'],
  ['custom_id empty', (g) => JSON.stringify({ ...g, custom_id: '' }), 'invalid_request'],
  ['custom_id huge', (g) => JSON.stringify({ ...g, custom_id: 'i'.repeat(513) }), 'invalid_request'],
  // Last key wins in JSON: the number replaces the good id.
  ['custom_id huge number', (g) => `${JSON.stringify(g).slice(0, -1)},"custom_id":1e999}`, 'invalid_request'],
  ['messages string', (g) => JSON.stringify({ ...g, messages: 'hello' }), 'invalid_request'],
  ['messages object', (g) => JSON.stringify({ ...g, messages: { role: 'user', content: 'x' } }), 'invalid_request'],
  ['messages null', (g) => JSON.stringify({ ...g, messages: null }), 'invalid_request'],
  ['messages empty', (g) => JSON.stringify({ ...g, messages: [] }), 'invalid_request'],
  ['messages of numbers', (g) => JSON.stringify({ ...g, messages: [1, 2] }), 'invalid_request'],
  ['role unknown', (g) => JSON.stringify({ ...g, messages: [{ role: 'admin', content: 'x' }] }), 'invalid_request'],
  ['role upper case', (g) => JSON.stringify({ ...g, messages: [{ role: 'USER', content: 'x' }] }), 'invalid_request'],
  ['role number', (g) => JSON.stringify({ ...g, messages: [{ role: 1, content: 'x' }] }), 'invalid_request'],
  ['role missing', (g) => JSON.stringify({ ...g, messages: [{ content: 'x' }] }), 'invalid_request'],
  ['content number', (g) => JSON.stringify({ ...g, messages: [{ role: 'user', content: 5 }] }), 'invalid_request'],
  [
    'content object',
    (g) => JSON.stringify({ ...g, messages: [{ role: 'user', content: { text: 'x' } }] }),
    'invalid_request',
  ],
  [
    'content null for user',
    (g) => JSON.stringify({ ...g, messages: [{ role: 'user', content: null }] }),
    'invalid_request',
  ],
  [
    'content part without type',
    (g) => JSON.stringify({ ...g, messages: [{ role: 'user', content: [{ text: 'x' }] }] }),
    'invalid_request',
  ],
  ['max_tokens string', (g) => JSON.stringify({ ...g, max_tokens: '10' }), 'invalid_request'],
  ['max_tokens negative', (g) => JSON.stringify({ ...g, max_tokens: -1 }), 'invalid_request'],
  ['max_tokens zero', (g) => JSON.stringify({ ...g, max_tokens: 0 }), 'invalid_request'],
  ['max_tokens float', (g) => JSON.stringify({ ...g, max_tokens: 1.5 }), 'invalid_request'],
  ['max_tokens huge', (g) => JSON.stringify({ ...g, max_tokens: 1e300 }), 'invalid_request'],
  ['max_tokens 2^53', (g) => JSON.stringify({ ...g, max_tokens: 2 ** 53 }), 'invalid_request'],
  ['max_tokens one too many', (g) => JSON.stringify({ ...g, max_tokens: MAX_MAX_TOKENS + 1 }), 'invalid_request'],
  ['max_tokens array', (g) => JSON.stringify({ ...g, max_tokens: [10] }), 'invalid_request'],
  ['temperature string', (g) => JSON.stringify({ ...g, temperature: '0.5' }), 'invalid_request'],
  ['temperature bool', (g) => JSON.stringify({ ...g, temperature: true }), 'invalid_request'],
  ['top_p object', (g) => JSON.stringify({ ...g, top_p: {} }), 'invalid_request'],
  ['stream', (g) => JSON.stringify({ ...g, stream: true }), 'invalid_request'],
  ['model number', (g) => JSON.stringify({ ...g, model: 3 }), 'invalid_request'],
  [
    'body string',
    (g) => JSON.stringify({ custom_id: g['custom_id'], method: 'POST', url: '/v1/chat/completions', body: 'x' }),
    'invalid_request',
  ],
  [
    'body array',
    (g) => JSON.stringify({ custom_id: g['custom_id'], url: '/v1/chat/completions', body: [g] }),
    'invalid_request',
  ],
  ['body null', (g) => JSON.stringify({ custom_id: g['custom_id'], method: 'POST', body: null }), 'invalid_request'],
  [
    'fields only in __proto__',
    (g) => `{"custom_id":${JSON.stringify(g['custom_id'])},"__proto__":{"messages":[{"role":"user","content":"x"}]}}`,
    'invalid_request',
  ],
  [
    'fields only in constructor.prototype',
    (g) => `{"custom_id":${JSON.stringify(g['custom_id'])},"constructor":{"prototype":{"messages":[]}}}`,
    'invalid_request',
  ],
  [
    'body only in __proto__',
    (g) =>
      `{"custom_id":${JSON.stringify(g['custom_id'])},"url":"/v1/chat/completions","__proto__":{"body":{"messages":[{"role":"user","content":"x"}]}}}`,
    'invalid_request',
  ],
  [
    'url to another host',
    (g) =>
      JSON.stringify({
        custom_id: g['custom_id'],
        method: 'POST',
        url: 'https://evil.example/v1/chat/completions',
        body: g,
      }),
    'url_mismatch',
  ],
  [
    'url to a local host',
    (g) => JSON.stringify({ custom_id: g['custom_id'], url: 'http://127.0.0.1:1/chat/completions', body: g }),
    'url_mismatch',
  ],
  [
    'url scheme-relative',
    (g) => JSON.stringify({ custom_id: g['custom_id'], url: '//evil.example/chat/completions', body: g }),
    'url_mismatch',
  ],
  [
    'url with query',
    (g) => JSON.stringify({ custom_id: g['custom_id'], url: '/v1/chat/completions?api-key=x', body: g }),
    'url_mismatch',
  ],
  [
    'url with dot segments',
    (g) => JSON.stringify({ custom_id: g['custom_id'], url: '/v1/../chat/completions', body: g }),
    'url_mismatch',
  ],
  [
    'url upper case',
    (g) => JSON.stringify({ custom_id: g['custom_id'], url: '/V1/CHAT/COMPLETIONS', body: g }),
    'url_mismatch',
  ],
  [
    'url embeddings',
    (g) => JSON.stringify({ custom_id: g['custom_id'], url: '/v1/embeddings', body: g }),
    'url_mismatch',
  ],
  ['url number', (g) => JSON.stringify({ custom_id: g['custom_id'], url: 5, body: g }), 'url_mismatch'],
  ['url null', (g) => JSON.stringify({ custom_id: g['custom_id'], url: null, body: g }), 'url_mismatch'],
  [
    'method GET',
    (g) => JSON.stringify({ custom_id: g['custom_id'], method: 'GET', url: '/v1/chat/completions', body: g }),
    'method_mismatch',
  ],
  [
    'method lower case',
    (g) => JSON.stringify({ custom_id: g['custom_id'], method: 'post', body: g }),
    'method_mismatch',
  ],
  ['method null', (g) => JSON.stringify({ custom_id: g['custom_id'], method: null, body: g }), 'method_mismatch'],
];

const BAD_JSON = [
  'not json',
  '{',
  '{"messages": [',
  '[]',
  '[{"role":"user","content":"x"}]',
  '"a string"',
  '42',
  'null',
  'true',
  "{'messages': []}",
  '{"messages": [], }',
  '{"a": NaN}',
  '{"a": 1} {"b": 2}',
  '{"a": 1}\u00a0x',
  '{"messages": [{"role": "user", "content": "x"}]} // comment',
  '{"a": "raw\u0000nul"}',
  '\u0000',
  '{"a": "raw\ttab"}',
  '{"a":1}\uFEFF',
];

const BAD_UTF8: readonly (readonly number[])[] = [
  [0xff],
  [0xc3, 0x28],
  [0xed, 0xa0, 0x80],
  [0xc0, 0xaf],
  [0xe2, 0x82],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0x80],
];

export type SegmentSpec =
  | ValidSpec
  | { readonly t: 'dup'; readonly pick: number; readonly batch: boolean }
  | { readonly t: 'mutation'; readonly index: number; readonly batch: boolean }
  | { readonly t: 'json'; readonly index: number }
  | { readonly t: 'utf8'; readonly index: number; readonly at: number }
  | { readonly t: 'large'; readonly extra: number }
  | { readonly t: 'exact' }
  | { readonly t: 'deep'; readonly depth: number; readonly arrays: boolean }
  | { readonly t: 'binary'; readonly bytes: Uint8Array }
  | { readonly t: 'blank'; readonly text: string }
  | { readonly t: 'model' };

export const segmentSpec: fc.Arbitrary<SegmentSpec> = fc.oneof(
  { weight: 8, arbitrary: validSpec },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('dup' as const), pick: fc.nat(), batch: fc.boolean() }) },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('mutation' as const),
      index: fc.nat({ max: MUTATIONS.length - 1 }),
      batch: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('json' as const), index: fc.nat({ max: BAD_JSON.length - 1 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('utf8' as const),
      index: fc.nat({ max: BAD_UTF8.length - 1 }),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  },
  // One byte over the limit is the interesting case: a trailing CR is allowed for, nothing else is.
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('large' as const),
      extra: fc.oneof(fc.constantFrom(1, 2), fc.integer({ min: 1, max: 40 })),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ t: 'exact' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('deep' as const),
      depth: fc.integer({ min: 33, max: 6000 }),
      arrays: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('binary' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 48 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('blank' as const),
      text: fc.constantFrom('', ' ', '\t \t', '\uFEFF', '\u00a0', '   \u2003'),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ t: 'model' as const }) },
);

/** Renders specs to bytes; valid lines get fresh custom_ids so that only `dup` lines repeat one. */
export class SegmentRenderer {
  #serial = 0;
  readonly #validIds: string[] = [];
  constructor(private readonly maxLineBytes: number) {}

  render(spec: SegmentSpec): Segment {
    const text = (s: string, intent: Intent): Segment => ({ bytes: Buffer.from(s, 'utf8'), intent });
    switch (spec.t) {
      case 'valid': {
        this.#serial += 1;
        const customId = spec.withId ? `ok-${this.#serial}${spec.idSuffix}` : undefined;
        if (customId !== undefined) this.#validIds.push(customId);
        const body = chatBodyText(spec);
        let line: string;
        if (spec.batch) {
          const fields: string[] = [];
          if (customId !== undefined) fields.push(`"custom_id":${JSON.stringify(customId)}`);
          if (spec.method) fields.push('"method":"POST"');
          if (spec.url !== undefined) fields.push(`"url":${JSON.stringify(spec.url)}`);
          fields.push(`"body":${withKeys(body, spec.hostileBody)}`);
          line = withKeys(`{${fields.join(',')}}`, spec.hostileTop);
        } else {
          line = withKeys(body, spec.hostileBody);
          if (customId !== undefined) line = withKeys(line, [`"custom_id":${JSON.stringify(customId)}`]);
        }
        const bytes = Buffer.concat([spec.bomPrefix ? BOM : Buffer.alloc(0), Buffer.from(line, 'utf8')]);
        return { bytes, intent: { kind: 'valid', bodyJson: expectedBodyJson(line, spec.batch), customId } };
      }
      case 'dup': {
        const id = this.#validIds[spec.pick % Math.max(1, this.#validIds.length)];
        if (id === undefined) return this.render({ t: 'blank', text: '' });
        const body = { messages: [{ role: 'user', content: 'again' }], max_tokens: 3 };
        const line = spec.batch
          ? JSON.stringify({ custom_id: id, method: 'POST', url: '/chat/completions', body })
          : JSON.stringify({ custom_id: id, ...body });
        return text(line, { kind: 'any' });
      }
      case 'mutation': {
        this.#serial += 1;
        const good = { custom_id: `bad-${this.#serial}`, messages: [{ role: 'user', content: 'x' }], max_tokens: 5 };
        const [, mutate, code] = MUTATIONS[spec.index]!;
        let line = mutate(good);
        if (spec.batch && code === 'invalid_request' && line.includes('"messages"') && !line.includes('"body"')) {
          // The same fault inside an OpenAI Batch envelope.
          const parsed = JSON.parse(line) as Record<string, unknown>;
          if (
            !line.includes('__proto__') &&
            !line.includes('1e999') &&
            'custom_id' in parsed &&
            typeof parsed['custom_id'] === 'string'
          ) {
            const { custom_id, ...rest } = parsed;
            line = JSON.stringify({ custom_id, method: 'POST', url: '/v1/chat/completions', body: rest });
          }
        }
        return text(line, { kind: 'invalid', code });
      }
      case 'json':
        return text(BAD_JSON[spec.index]!, { kind: 'invalid', code: 'invalid_json_line' });
      case 'utf8': {
        this.#serial += 1;
        const base = Buffer.from(
          JSON.stringify({ custom_id: `u-${this.#serial}`, messages: [{ role: 'user', content: 'abc' }] }),
          'ascii',
        );
        const at = Math.floor(spec.at * base.length);
        return {
          bytes: Buffer.concat([base.subarray(0, at), Buffer.from(BAD_UTF8[spec.index]!), base.subarray(at)]),
          intent: { kind: 'invalid', code: 'invalid_utf8' },
        };
      }
      case 'large':
      case 'exact': {
        this.#serial += 1;
        const shell = JSON.stringify({ custom_id: `big-${this.#serial}`, messages: [{ role: 'user', content: '' }] });
        const target = this.maxLineBytes + (spec.t === 'large' ? spec.extra : 0);
        const pad = 'p'.repeat(Math.max(0, target - Buffer.byteLength(shell)));
        const line = shell.replace('"content":""', `"content":"${pad}"`);
        if (spec.t === 'large') return text(line, { kind: 'invalid', code: 'line_too_large' });
        this.#validIds.push(`big-${this.#serial}`);
        return text(line, { kind: 'valid', bodyJson: expectedBodyJson(line, false), customId: `big-${this.#serial}` });
      }
      case 'deep': {
        this.#serial += 1;
        const nested = spec.arrays
          ? `${'['.repeat(spec.depth)}${']'.repeat(spec.depth)}`
          : `${'{"a":'.repeat(spec.depth)}1${'}'.repeat(spec.depth)}`;
        return text(
          `{"custom_id":"deep-${this.#serial}","messages":[{"role":"user","content":"x"}],"metadata":${nested}}`,
          { kind: 'invalid', code: 'invalid_request' },
        );
      }
      case 'binary':
        return { bytes: Buffer.from(spec.bytes), intent: { kind: 'any' } };
      case 'blank':
        return text(spec.text, { kind: 'blank' });
      case 'model':
        this.#serial += 1;
        return text(
          JSON.stringify({
            custom_id: `m-${this.#serial}`,
            model: 'Phi-3-other',
            messages: [{ role: 'user', content: 'x' }],
          }),
          { kind: 'any' },
        );
    }
  }
}

export const separator = fc.oneof(
  { weight: 6, arbitrary: fc.constant('\n') },
  { weight: 3, arbitrary: fc.constant('\r\n') },
  { weight: 1, arbitrary: fc.constant('\r') },
);

export interface HostileFile {
  readonly bytes: Buffer;
  /** Where each segment landed in the file. */
  readonly placed: ReadonlyArray<{ readonly offset: number; readonly segment: Segment }>;
}

export function assemble(
  segments: readonly Segment[],
  separators: readonly string[],
  bom: boolean,
  trailing: boolean,
): HostileFile {
  const parts: Buffer[] = [];
  const placed: Array<{ offset: number; segment: Segment }> = [];
  let offset = 0;
  const push = (buffer: Buffer): void => {
    parts.push(buffer);
    offset += buffer.length;
  };
  if (bom) push(BOM);
  segments.forEach((segment, index) => {
    placed.push({ offset, segment });
    push(segment.bytes);
    if (index < segments.length - 1 || trailing)
      push(Buffer.from(separators[index % Math.max(1, separators.length)] ?? '\n'));
  });
  return { bytes: Buffer.concat(parts), placed };
}

// ---------------------------------------------------------------------------------------------
// Driving the ingest (with its continuations) and the rest of the pipeline on in-memory ports.
// ---------------------------------------------------------------------------------------------

/**
 * The model's real tokenizer, and no per-call limits: these properties are about reading hostile files
 * exactly (the context-length and tokens-per-minute checks have tests of their own).
 */
export function realDeployments(world: World, chat: ChatClient, model = MODEL): Deployments {
  const requestLimits = { contextLength: Number.MAX_SAFE_INTEGER, tokensPerMinute: Number.POSITIVE_INFINITY };
  return new Deployments([
    { name: 'test', model, chat, limiter: world.limiter, tokenCounter: createTokenCounter(model), requestLimits },
  ]);
}

/** Runs the ingest and every continuation it asks for, as the control-queue function would. */
export async function ingestAll(deps: IngestDeps, world: World, name: string): Promise<IngestResult[]> {
  const results = [await ingestBlob('batch-input', name, deps)];
  for (let guard = 0; guard < 100_000; guard += 1) {
    const index = world.controlQueue.sent.findIndex((m) => (m.payload as { kind?: string }).kind === 'ingest');
    if (index === -1) return results;
    const [message] = world.controlQueue.sent.splice(index, 1);
    const parsed = parseControlMessage(message!.payload);
    if (typeof parsed === 'string' || parsed.kind !== 'ingest')
      throw new Error(`bad continuation: ${JSON.stringify(message)}`);
    results.push(await runIngestMessage(parsed, deps));
  }
  throw new Error('the ingest never finished');
}

export function jobIdOf(results: readonly IngestResult[]): string {
  const first = results[0]!;
  if (first.kind === 'ignored') throw new Error(`ignored: ${first.reason}`);
  return first.jobId;
}

export function queuedMessages(world: World): RequestMessage[] {
  return world.requestQueue.sent.map((m) => m.payload as RequestMessage);
}

export async function outcomesOf(world: World, jobId: string): Promise<LineOutcome[]> {
  const all: LineOutcome[] = [];
  for await (const outcome of world.jobs.listOutcomes(jobId)) all.push(outcome);
  return all;
}

/** Work and control messages until both queues are empty; bounded. */
export async function runPipeline(world: World, workerDeps = world.workerDeps): Promise<void> {
  for (let round = 0; round < 1_000; round += 1) {
    const work = world.requestQueue.drain();
    const control = world.controlQueue.drain();
    if (work.length === 0 && control.length === 0) return;
    for (const payload of work) await processRequestMessage(requestMessageOf(payload), workerDeps);
    for (const payload of control) {
      const message = parseControlMessage(payload);
      if (typeof message !== 'string' && message.kind === 'finalize')
        await finalizeJob(message.jobId, world.finalizeDeps);
    }
  }
  throw new Error('the pipeline never went quiet');
}

const ITEM_KEYS = new Set(['line', 'id', 'body', 'ref', 'prior']);

/** A work message carries the job, its pinned input and, per line, only the line number, the id and the body (or where to read it). */
export function expectWellFormedMessage(
  message: RequestMessage,
  jobId: string,
  input: { container: string; name: string; etag: string },
): void {
  expect(
    Object.keys(message)
      .filter((key) => key !== 'firstSend')
      .sort(),
  ).toEqual(['input', 'items', 'jobId', 'kind', 'seq', 'v']);
  expect([undefined, true]).toContain(message.firstSend);
  expect(message.jobId).toBe(jobId);
  expect(message.input).toEqual(input);
  for (const item of message.items) {
    for (const key of Object.keys(item)) expect(ITEM_KEYS.has(key), `item key ${key}`).toBe(true);
    expect('body' in item !== 'ref' in item).toBe(true);
  }
}

/** Nothing anywhere learned a property from a line. */
export function expectNoPollution(before: ReadonlyMap<object, readonly string[]>): void {
  expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  expect(([] as unknown as Record<string, unknown>)['polluted']).toBeUndefined();
  expect((Object.create(null) as Record<string, unknown>)['polluted']).toBeUndefined();
  expect(typeof {}.toString).toBe('function');
  expect(typeof {}.hasOwnProperty).toBe('function');
  for (const [target, names] of before) expect(Object.getOwnPropertyNames(target).sort()).toEqual(names);
}

export function prototypeSnapshot(): Map<object, string[]> {
  const targets: object[] = [Object.prototype, Array.prototype, Function.prototype, String.prototype, Object];
  return new Map(targets.map((t) => [t, Object.getOwnPropertyNames(t).sort()]));
}

export function itemLines(messages: readonly RequestMessage[]): Array<{ item: RequestItem; seq: number }> {
  return messages.flatMap((m) => m.items.map((item) => ({ item, seq: m.seq })));
}
