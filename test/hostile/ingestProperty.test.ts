import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InMemoryJobStore } from '../../src/adapters/memory/InMemoryJobStore.js';
import { ingestBlob, type IngestDeps } from '../../src/app/ingestBlob.js';
import type { LineOutcome } from '../../src/core/lineOutcome.js';
import { MAX_MAX_TOKENS } from '../../src/core/parseBatchLine.js';
import type { RequestItem } from '../../src/core/requestMessage.js';
import { createWorld, ScriptedChatClient } from '../app/fixtures.js';
import {
  assemble,
  expectNoPollution,
  expectWellFormedMessage,
  ingestAll,
  itemLines,
  jobIdOf,
  MODEL,
  outcomesOf,
  prototypeSnapshot,
  queuedMessages,
  realDeployments,
  referenceLines,
  referenceOutcomes,
  runPipeline,
  segmentSpec,
  SegmentRenderer,
  separator,
  type HostileFile,
  type World,
} from './hostileFiles.js';

const MIB = 1024 * 1024;

interface Setup {
  readonly maxLineBytes: number;
  readonly maxLinesPerFile: number;
  readonly readChunkBytes: number;
  readonly chunkLines: number;
  readonly maxMessageBytes: number;
  readonly maxItemsPerMessage: number;
  readonly inlineBodies: boolean;
  readonly model: string;
}

const DEFAULT_SETUP: Setup = {
  maxLineBytes: MIB,
  maxLinesPerFile: 1_000_000,
  readChunkBytes: 64 * 1024,
  chunkLines: 200_000,
  maxMessageBytes: 48 * 1024 - 512,
  maxItemsPerMessage: 64,
  inlineBodies: false,
  model: MODEL,
};

interface Checked {
  readonly world: World;
  readonly jobId: string;
  readonly chat: ScriptedChatClient;
  readonly queued: ReadonlyMap<number, RequestItem>;
  readonly outcomes: ReadonlyMap<number, LineOutcome>;
}

/**
 * Ingests `file` (with every continuation), then holds the result against the reference: every
 * non-blank line is queued exactly once with its exact body or has exactly one outcome with the
 * right code, never both; the job's counts add up; the messages carry nothing the line chose; no
 * prototype learned anything. Then runs the workers and the finalisation and checks the totals.
 */
async function ingestAndCheck(file: Buffer | HostileFile, setup: Setup): Promise<Checked> {
  const bytes = Buffer.isBuffer(file) ? file : file.bytes;
  const prototypes = prototypeSnapshot();
  const chat = new ScriptedChatClient();
  const world = createWorld(chat);
  world.blobs.readChunkBytes = setup.readChunkBytes;
  world.blobs.put('batch-input', 'hostile.jsonl', bytes);
  const deployments = realDeployments(world, chat, setup.model);
  const deps: IngestDeps = {
    ...world.ingestDeps,
    deployments,
    maxLineBytes: setup.maxLineBytes,
    maxLinesPerFile: setup.maxLinesPerFile,
    packing: {
      maxMessageBytes: setup.maxMessageBytes,
      maxItemsPerMessage: setup.maxItemsPerMessage,
      inlineBodies: setup.inlineBodies,
    },
    chunkLines: setup.chunkLines,
    messagesPerCheckpoint: 2,
  };

  const results = await ingestAll(deps, world, 'hostile.jsonl');
  const jobId = jobIdOf(results);
  expect(results[results.length - 1]!.kind).toBe('ingested');
  const job = (await world.jobs.getJob(jobId))!.job;

  const lines = referenceLines(bytes);
  const expected = referenceOutcomes(lines, setup);
  const nonBlank = expected.filter((e) => e.kind !== 'blank').length;
  const requests = expected.filter((e) => e.kind === 'request').length;

  const messages = queuedMessages(world);
  for (const message of messages)
    expectWellFormedMessage(message, jobId, { container: 'batch-input', name: 'hostile.jsonl', etag: job.input.etag });
  const seqs = messages.map((m) => m.seq);
  expect(new Set(seqs).size).toBe(seqs.length);
  const queued = new Map<number, RequestItem>();
  for (const { item } of itemLines(messages)) {
    expect(queued.has(item.line), `line ${item.line} queued twice`).toBe(false);
    queued.set(item.line, item);
  }
  const outcomeList = await outcomesOf(world, jobId);
  const outcomes = new Map(outcomeList.map((o) => [o.line, o]));
  expect(outcomes.size).toBe(outcomeList.length);

  lines.forEach((line, index) => {
    const want = expected[index]!;
    const n = line.lineNumber;
    const label = `line ${n} (${JSON.stringify(line.content.subarray(0, 80).toString('latin1'))})`;
    if (want.kind === 'blank') {
      expect(queued.has(n), `${label} is blank but was queued`).toBe(false);
      expect(outcomes.has(n), `${label} is blank but has an outcome`).toBe(false);
      return;
    }
    if (want.kind === 'request') {
      expect(outcomes.get(n), `${label} is valid but has an outcome`).toBeUndefined();
      const item = queued.get(n);
      expect(item, `${label} is valid but was not queued`).toBeDefined();
      expect(item!.id).toBe(want.customId);
      if ('body' in item!) expect(JSON.stringify(item.body), label).toBe(want.bodyJson);
      else expect(item!.ref, label).toEqual({ offset: line.offset, length: line.content.length });
      return;
    }
    expect(queued.has(n), `${label} is invalid (${want.code}) but was queued`).toBe(false);
    const outcome = outcomes.get(n);
    expect(outcome, `${label} is invalid (${want.code}) but has no outcome`).toBeDefined();
    expect({ status: outcome!.status, code: outcome!.error?.code, customId: outcome!.customId }, label).toEqual({
      status: 'failed',
      code: want.code,
      customId: want.customId,
    });
  });
  // Nothing beyond the file's own lines, and every non-blank line exactly once.
  expect(queued.size + outcomes.size).toBe(nonBlank);
  expect(job.ingest).toMatchObject({ done: true, linesRead: lines.length, requests, invalid: nonBlank - requests });
  expect(job.ingest.requests + job.ingest.invalid).toBe(nonBlank);
  expect(job.counts).toEqual({ succeeded: 0, failed: nonBlank - requests });

  if (!Buffer.isBuffer(file)) checkIntents(file, lines, expected, setup.maxLineBytes);
  expectNoPollution(prototypes);

  // Through the workers and the finalisation: each request sent once with its body, totals exact.
  await runPipeline(world, { ...world.workerDeps, deployments });
  const final = (await world.jobs.getJob(jobId))!.job;
  expect(final.status).toBe(requests > 0 ? 'completed' : 'failed');
  expect(final.counts).toEqual({ succeeded: requests, failed: nonBlank - requests });
  expect(chat.calls).toHaveLength(requests);
  const calls = new Map(chat.calls.map((c) => [c.customId, c.body]));
  expect(calls.size).toBe(requests);
  for (const want of expected) {
    if (want.kind !== 'request') continue;
    const body = JSON.parse(want.bodyJson) as Record<string, unknown>;
    const sent = body['max_tokens'] === undefined || body['max_tokens'] === null ? { ...body, max_tokens: 100 } : body;
    expect(JSON.stringify(calls.get(want.customId))).toBe(JSON.stringify(sent));
  }
  const outputLines = async (name: string) =>
    ((await world.blobs.download('batch-output', `${jobId}/${name}`))?.toString('utf8') ?? '')
      .split('\n')
      .filter(Boolean);
  expect(await outputLines('results.jsonl')).toHaveLength(requests);
  expect(await outputLines('errors.jsonl')).toHaveLength(nonBlank - requests);
  expectNoPollution(prototypes);
  return { world, jobId, chat, queued, outcomes };
}

/** A segment that stands alone on its line becomes what it was written to be. */
function checkIntents(
  file: HostileFile,
  lines: ReturnType<typeof referenceLines>,
  expected: ReturnType<typeof referenceOutcomes>,
  maxLineBytes: number,
): void {
  const byOffset = new Map(lines.map((line, index) => [line.offset, index]));
  for (const { offset, segment } of file.placed) {
    const index = byOffset.get(offset);
    if (index === undefined || lines[index]!.content.length !== segment.bytes.length) continue;
    const want = expected[index]!;
    const n = lines[index]!.lineNumber;
    const label = `segment on line ${n}: ${JSON.stringify(segment.bytes.subarray(0, 80).toString('latin1'))}`;
    const intent =
      segment.bytes.length > maxLineBytes ? { kind: 'invalid' as const, code: 'line_too_large' } : segment.intent;
    switch (intent.kind) {
      case 'valid':
        if (want.kind === 'request') {
          expect(want.bodyJson, label).toBe(intent.bodyJson);
          expect(want.customId, label).toBe(intent.customId ?? `~line-${n}`);
        } else {
          // Only a rule across lines may refuse a valid line.
          expect(
            want.kind === 'invalid' && ['model_mismatch', 'too_many_tasks'].includes(want.code),
            `${label} became ${JSON.stringify(want)}`,
          ).toBe(true);
        }
        break;
      case 'invalid':
        expect(want, label).toMatchObject({ kind: 'invalid', code: intent.code });
        break;
      case 'blank':
        expect(want, label).toEqual({ kind: 'blank' });
        break;
      case 'any':
        break;
    }
  }
}

const setupArb: fc.Arbitrary<Setup> = fc.record({
  maxLineBytes: fc.constantFrom(300, 1024, 16_384),
  maxLinesPerFile: fc.constantFrom(1_000, 1_000, 3),
  readChunkBytes: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 17, max: 4096 })),
  chunkLines: fc.oneof(fc.integer({ min: 1, max: 6 }), fc.constant(1_000_000)),
  maxMessageBytes: fc.integer({ min: 350, max: 4096 }),
  maxItemsPerMessage: fc.integer({ min: 1, max: 8 }),
  inlineBodies: fc.boolean(),
  model: fc.constantFrom(MODEL, 'Phi-3-small-8k-instruct'),
});

const fileArb = fc
  .record({
    specs: fc.array(segmentSpec, { maxLength: 30 }),
    separators: fc.array(separator, { minLength: 1, maxLength: 30 }),
    bom: fc.boolean(),
    trailing: fc.boolean(),
    setup: setupArb,
  })
  .map(({ specs, separators, bom, trailing, setup }) => {
    const renderer = new SegmentRenderer(setup.maxLineBytes);
    return {
      file: assemble(
        specs.map((s) => renderer.render(s)),
        separators,
        bom,
        trailing,
      ),
      setup,
    };
  });

describe('ingest of hostile files (in-memory ports)', () => {
  it('never throws, never loses or doubles a line, queues each valid line with its exact body, counts add up (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fileArb, async ({ file, setup }) => {
        await ingestAndCheck(file, setup);
      }),
      { numRuns: 150 },
    );
  });

  it('random bytes: every line accounted for, nothing thrown (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 4096 }),
        fc.array(fc.nat({ max: 4095 }), { maxLength: 40 }),
        setupArb,
        async (noise, newlines, setup) => {
          const bytes = Buffer.from(noise);
          for (const at of newlines) if (at < bytes.length) bytes[at] = 0x0a;
          await ingestAndCheck(bytes, setup);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('a 0-byte file is a failed empty job with no outcome and no message', async () => {
    const { world, jobId, queued, outcomes } = await ingestAndCheck(Buffer.alloc(0), DEFAULT_SETUP);
    const job = (await world.jobs.getJob(jobId))!.job;
    expect(queued.size + outcomes.size).toBe(0);
    expect(job.status).toBe('failed');
    expect(job.jobError?.code).toBe('empty_batch');
    expect(job.ingest.linesRead).toBe(0);
  });

  it('a file of blank lines only (LF, CRLF, CR, spaces, tabs, BOMs) is a failed empty job', async () => {
    const text = '\uFEFF\n\r\n   \n\t\r\n\r\r\n\uFEFF\n\u00a0\n\n';
    const { world, jobId, outcomes } = await ingestAndCheck(Buffer.from(text, 'utf8'), DEFAULT_SETUP);
    const job = (await world.jobs.getJob(jobId))!.job;
    expect(outcomes.size).toBe(0);
    expect(job.ingest.linesRead).toBe(8);
    expect(job.status).toBe('failed');
    expect(job.jobError?.code).toBe('empty_batch');
  });

  it('a 5 MB line under the default 1 MiB limit is line_too_large and its neighbours still run', async () => {
    const huge = JSON.stringify({
      custom_id: 'huge',
      messages: [{ role: 'user', content: 'h'.repeat(5 * 1000 * 1000) }],
    });
    const text = [
      JSON.stringify({ custom_id: 'before', messages: [{ role: 'user', content: 'first' }] }),
      huge,
      JSON.stringify({ custom_id: 'after', messages: [{ role: 'user', content: 'last' }] }),
    ].join('\r\n');
    const { outcomes, queued, chat } = await ingestAndCheck(Buffer.from(text), DEFAULT_SETUP);
    expect(outcomes.get(2)).toMatchObject({ customId: '~line-2', error: { code: 'line_too_large' } });
    expect([...queued.values()].map((i) => i.id)).toEqual(['before', 'after']);
    expect(chat.calls.map((c) => c.customId)).toEqual(['before', 'after']);
  });

  it('JSON nested thousands of levels deep is invalid_request, and its neighbours still run', async () => {
    const text = [
      `{"custom_id":"arrays","messages":[{"role":"user","content":"x"}],"extra":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
      JSON.stringify({ custom_id: 'fine', messages: [{ role: 'user', content: 'ok' }] }),
      `{"custom_id":"objects","messages":[{"role":"user","content":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}]}`,
      `${'['.repeat(50_000)}${']'.repeat(50_000)}`,
      `{"custom_id":"in-body","body":{"messages":[{"role":"user","content":[${'{"type":"text","x":'.repeat(5_000)}1${'}'.repeat(5_000)}]}]}}`,
    ].join('\n');
    const { outcomes, queued } = await ingestAndCheck(Buffer.from(text), DEFAULT_SETUP);
    expect([...outcomes.values()].map((o) => [o.line, o.customId, o.error?.code])).toEqual([
      [1, '~line-1', 'invalid_request'],
      [3, '~line-3', 'invalid_request'],
      [4, '~line-4', 'invalid_json_line'],
      [5, '~line-5', 'invalid_request'],
    ]);
    expect([...queued.values()].map((i) => i.id)).toEqual(['fine']);
  });

  it('a max_tokens no deployment could serve is refused before it can reserve the shared budget', async () => {
    const lines = [1e300, 2 ** 53, Number.MAX_SAFE_INTEGER, MAX_MAX_TOKENS + 1, MAX_MAX_TOKENS].map((maxTokens, i) =>
      JSON.stringify({ custom_id: `t${i}`, messages: [{ role: 'user', content: 'x' }], max_tokens: maxTokens }),
    );
    const { outcomes, queued } = await ingestAndCheck(Buffer.from(lines.join('\n')), DEFAULT_SETUP);
    expect([...outcomes.values()].map((o) => [o.customId, o.error?.code, o.error?.message])).toEqual(
      ['t0', 't1', 't2', 't3'].map((id) => [
        id,
        'invalid_request',
        `max_tokens must be a positive integer of at most ${MAX_MAX_TOKENS}, or null`,
      ]),
    );
    expect([...queued.values()].map((i) => i.id)).toEqual(['t4']);
  });

  it('prompts made of one enormous word are counted, for both tokenizer families, without stalling ingest or worker', async () => {
    // Each would take js-tiktoken minutes to hours as a single word.
    const words = [
      'é'.repeat(20_000),
      ' '.repeat(20_000),
      '\n'.repeat(20_000),
      '😀'.repeat(10_000),
      '漢字かなカナ'.repeat(2_000),
      `!${'\r\n'.repeat(10_000)}`,
    ];
    const text = words
      .map((word, i) =>
        JSON.stringify({ custom_id: `w${i}`, messages: [{ role: 'user', content: word }], max_tokens: 5 }),
      )
      .join('\n');
    for (const model of [MODEL, 'Phi-3-small-8k-instruct']) {
      const { queued, chat } = await ingestAndCheck(Buffer.from(text), { ...DEFAULT_SETUP, model });
      expect(queued.size).toBe(words.length);
      expect(chat.calls).toHaveLength(words.length);
    }
  });

  it('keys named __proto__, constructor and prototype are data, not paths', async () => {
    const lines = [
      '{"custom_id":"p1","__proto__":{"polluted":"yes"},"messages":[{"role":"user","content":"a","__proto__":{"role":"admin"}}]}',
      '{"custom_id":"p2","constructor":{"prototype":{"polluted":"yes"}},"messages":[{"role":"user","content":"b"}]}',
      '{"custom_id":"p3","method":"POST","url":"/v1/chat/completions","__proto__":{"url":"https://evil.example"},"body":{"__proto__":{"polluted":"yes"},"messages":[{"role":"user","content":"c"}]}}',
      '{"custom_id":"p4","__proto__":{"messages":[{"role":"user","content":"smuggled"}]}}',
      '{"__proto__":{"custom_id":"smuggled-id"},"messages":[{"role":"user","content":"d"}]}',
      '{"custom_id":"p6","messages":[{"role":"user","content":"e"}],"toString":1,"valueOf":2,"hasOwnProperty":3}',
    ];
    const { outcomes, queued, chat } = await ingestAndCheck(Buffer.from(lines.join('\n')), DEFAULT_SETUP);
    expect([...outcomes.values()].map((o) => [o.customId, o.error?.code])).toEqual([['p4', 'invalid_request']]);
    expect([...queued.values()].map((i) => i.id)).toEqual(['p1', 'p2', 'p3', '~line-5', 'p6']);
    const sent = chat.calls.find((c) => c.customId === 'p1')!.body as unknown as Record<string, unknown>;
    expect(Object.getPrototypeOf(sent)).toBe(Object.prototype);
    expect(Object.keys(sent)).toContain('__proto__');
  });

  it('a blob name with "." or ".." segments is refused with a warning; other odd names are jobs', async () => {
    const world = createWorld();
    const warnings: string[] = [];
    const deps: IngestDeps = {
      ...world.ingestDeps,
      logger: { info: () => {}, warn: (m: string) => void warnings.push(m), error: () => {} },
    };
    const line = JSON.stringify({ messages: [{ role: 'user', content: 'x' }] });
    for (const name of [
      '../x.jsonl',
      'a/../b.jsonl',
      'a/./c.jsonl',
      'x/../../elsewhere/theirs.jsonl',
      '..a/b...jsonl',
      'données été 😀.jsonl',
      'a//b.jsonl',
      '%2e%2e/d.jsonl',
    ]) {
      world.blobs.put('batch-input', name, line);
    }
    const kinds: Record<string, string> = {};
    for (const name of [
      '../x.jsonl',
      'a/../b.jsonl',
      'a/./c.jsonl',
      'x/../../elsewhere/theirs.jsonl',
      '..a/b...jsonl',
      'données été 😀.jsonl',
      'a//b.jsonl',
      '%2e%2e/d.jsonl',
    ]) {
      kinds[name] = (await ingestBlob('batch-input', name, deps)).kind;
    }
    expect(kinds).toEqual({
      '../x.jsonl': 'ignored',
      'a/../b.jsonl': 'ignored',
      'a/./c.jsonl': 'ignored',
      'x/../../elsewhere/theirs.jsonl': 'ignored',
      '..a/b...jsonl': 'ingested',
      'données été 😀.jsonl': 'ingested',
      'a//b.jsonl': 'ingested',
      '%2e%2e/d.jsonl': 'ingested',
    });
    expect(warnings).toHaveLength(4);
    expect(warnings[0]).toBe(
      'Ignoring batch-input/../x.jsonl: "." and ".." segments in a blob name cannot be addressed exactly',
    );
  });

  it('a million lines of {} finish, all invalid, in bounded memory', async () => {
    const lineCount = 1_000_000;
    const world = createWorld();
    // Keeps per-line codes compactly: the point is the ingest's memory, not the test double's.
    const jobs = new CountingJobStore();
    const deps: IngestDeps = {
      ...world.ingestDeps,
      jobs,
      maxLineBytes: MIB,
      maxLinesPerFile: 1_000_000,
      packing: { maxMessageBytes: 48 * 1024 - 512, maxItemsPerMessage: 64 },
    };
    world.blobs.readChunkBytes = 64 * 1024;
    world.blobs.put('batch-input', 'million.jsonl', '{}\n'.repeat(lineCount));
    const heapAtStart = process.memoryUsage().heapUsed;
    let peakHeap = heapAtStart;
    jobs.onWrite = () => {
      peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    };
    const results = await ingestAll(deps, world, 'million.jsonl');
    const jobId = jobIdOf(results);
    const job = (await jobs.getJob(jobId))!.job;
    expect(job.ingest).toMatchObject({ done: true, linesRead: lineCount, requests: 0, invalid: lineCount });
    expect(job.counts).toEqual({ succeeded: 0, failed: lineCount });
    expect(jobs.recorded).toBe(lineCount);
    expect(jobs.codes).toEqual(new Map([['invalid_request', lineCount]]));
    expect(world.requestQueue.sent).toHaveLength(0);
    expect(world.controlQueue.sent.map((m) => m.payload)).toEqual([{ v: 1, kind: 'finalize', jobId }]);
    // Chunks of 200,000 lines (the last one ends exactly at the end of the file, so one more invocation finds nothing left).
    expect(results.map((r) => r.kind)).toEqual([
      'continued',
      'continued',
      'continued',
      'continued',
      'continued',
      'ingested',
    ]);
    // The heap never held the file's lines or their outcomes.
    const growthInMiB = (peakHeap - heapAtStart) / MIB;
    expect(growthInMiB, `heap grew by ${growthInMiB.toFixed(0)} MiB`).toBeLessThan(256);
  });
});

/** An in-memory job store that records which lines have outcomes, and each code's count, instead of the outcomes. */
class CountingJobStore extends InMemoryJobStore {
  readonly #lines = new Uint8Array(1_000_002);
  readonly codes = new Map<string, number>();
  recorded = 0;
  onWrite: () => void = () => {};

  override async recordOutcomes(outcomes: readonly LineOutcome[]): Promise<LineOutcome[]> {
    this.onWrite();
    const created = outcomes.filter((o) => this.#lines[o.line] === 0);
    for (const o of created) {
      this.#lines[o.line] = 1;
      this.recorded += 1;
      const code = o.error?.code ?? 'none';
      this.codes.set(code, (this.codes.get(code) ?? 0) + 1);
    }
    return created;
  }

  override async linesWithOutcome(_jobId: string, lines: readonly number[]): Promise<Set<number>> {
    return new Set(lines.filter((line) => this.#lines[line] === 1));
  }
}
