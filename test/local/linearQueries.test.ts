import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  linearizeQueryCode,
  standInQueryHelpers,
  standInQueryModule,
  standInRequire,
  stripUndefinedLinear,
  useLinearStandInQueries,
} from '../../dev/local/stack/linearQueries.js';

/** The engine's own `stripUndefined`, from a fresh copy of its module (the loaded one may be patched). */
function originalStripUndefined(): (value: unknown) => unknown {
  const engine = standInRequire();
  const path = engine.resolve('@zeit/cosmosdb-query/lib/helpers');
  const loaded = engine.cache[path];
  delete engine.cache[path];
  try {
    return (engine(path) as { stripUndefined: (value: unknown) => unknown }).stripUndefined;
  } finally {
    if (loaded !== undefined) engine.cache[path] = loaded;
  }
}

// What the stand-in's query engine generates for `FROM c` (copied from its output for `SELECT VALUE COUNT(1) FROM c WHERE ...`).
const QUADRATIC = `$h.sort($c.reduce(($, c) => typeof c !== "undefined" ? [...$, {
      c: c
    }] : $, []).filter(({ c }) => true), $ => $.c._rid)`;

interface Result {
  result: unknown[];
  continuation: { token: string } | null;
}

describe('the Cosmos stand-in, queried in linear time', () => {
  it('rewrites the quadratic FROM expression and nothing else', () => {
    const linear = linearizeQueryCode(QUADRATIC);
    expect(linear).not.toContain('[...$');
    expect(linear).toContain('$c.filter((c) => typeof c !== "undefined").map((c) => ({ c: c }))');
    expect(linear.endsWith('.filter(({ c }) => true), $ => $.c._rid)')).toBe(true);
    expect(linearizeQueryCode('$h.other(code)')).toBe('$h.other(code)');
  });

  it('strips undefined from result pages exactly as the engine did', () => {
    const original = originalStripUndefined();
    expect(original).not.toBe(stripUndefinedLinear);
    const values = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.constant(undefined),
        fc.constant(null),
        fc.integer(),
        fc.string(),
        fc.boolean(),
        tie('array'),
        tie('object'),
      ),
      array: fc.array(tie('value'), { maxLength: 6 }),
      object: fc.dictionary(fc.string({ maxLength: 4 }), tie('value'), { maxKeys: 5 }),
    })).value;
    fc.assert(
      fc.property(values, (value) => {
        expect(stripUndefinedLinear(value)).toStrictEqual(original(value));
      }),
      { numRuns: 300 },
    );
    expect(stripUndefinedLinear([1, undefined, { a: undefined, b: [undefined, 2] }])).toStrictEqual([1, { b: [2] }]);
  });

  it('answers the queries the app sends exactly as before, across jobs and pages', () => {
    useLinearStandInQueries();
    useLinearStandInQueries();
    expect(standInQueryHelpers().stripUndefined).toBe(stripUndefinedLinear);
    const engine = standInQueryModule();
    const docs = Array.from({ length: 3_000 }, (_, i) => ({
      id: String(i),
      jobId: i % 3 === 0 ? 'other' : 'job',
      line: 3_000 - i,
      state: i % 7 === 0 ? 'sent' : 'billed',
      costInNanos: i,
      _rid: `rid${String(i).padStart(5, '0')}`,
    }));
    const mine = docs.filter((d) => d.jobId === 'job');
    const run = (sql: string, options: Record<string, unknown> = {}): Result => {
      const query = engine.default(sql) as unknown as {
        code: string;
        exec: (docs: unknown[], options: unknown) => Result;
      };
      expect(query.code).not.toContain('[...$, {');
      return query.exec(docs, { parameters: [{ name: '@jobId', value: 'job' }], ...options });
    };

    expect(run('SELECT VALUE COUNT(1) FROM c WHERE c.jobId = @jobId').result).toEqual([mine.length]);
    expect(run("SELECT VALUE COUNT(1) FROM c WHERE c.jobId = @jobId AND c.state = 'sent'").result).toEqual([
      mine.filter((d) => d.state === 'sent').length,
    ]);
    expect(run('SELECT VALUE SUM(c.costInNanos) FROM c WHERE c.jobId = @jobId').result).toEqual([
      mine.reduce((s, d) => s + d.costInNanos, 0),
    ]);
    expect(
      run('SELECT c.state, c.costInNanos FROM c WHERE c.jobId = @jobId', { maxItemCount: 10_000 }).result,
    ).toHaveLength(mine.length);

    // ORDER BY with continuation: every line once, in order.
    const lines: number[] = [];
    let continuation: { token: string } | null = null;
    do {
      const page: Result = run('SELECT * FROM c WHERE c.jobId = @jobId ORDER BY c.line', {
        maxItemCount: 500,
        continuation,
      });
      lines.push(...(page.result as Array<{ line: number }>).map((d) => d.line));
      continuation = page.continuation;
    } while (continuation !== null);
    expect(lines).toEqual(mine.map((d) => d.line).sort((a, b) => a - b));
  });
});
