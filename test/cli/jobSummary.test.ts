import { describe, expect, test } from 'vitest';
import { formatJobSummary, formatJobTable } from '../../cli/progress.js';
import { batchObject, JOB_ID, stages, T0_IN_MS } from './fixtures.js';

describe('formatJobSummary', () => {
  test('a completed job: counts, tokens, cost, duration and output blobs', () => {
    expect(formatJobSummary(stages.completed(1000, 7))).toBe(
      [
        JOB_ID,
        '  Status             completed (100%)',
        '  Input              batch-input/prompts.jsonl',
        '  Model              Phi-3-mini-4k-instruct',
        '  Lines              1,000 read: 1,000 requests, 0 invalid',
        '  Succeeded          993',
        '  Failed             7',
        '    failed requests  7 (codes per line in the error file)',
        '  Tokens             12,345 in, 6,789 out, 19,134 total',
        '  Cost               $0.0051',
        '  Duration           2m 13s (2025-01-02 10:00:00Z to 2025-01-02 10:02:13Z)',
        `  Output             batch-output/${JOB_ID}/results.jsonl`,
        `  Errors             batch-output/${JOB_ID}/errors.jsonl`,
      ].join('\n'),
    );
  });

  test('lines answered from the response cache, and what they saved', () => {
    const job = batchObject((j) => ({ ...j, cacheHits: 7, cacheSavedInNanos: 1_200_000 }));
    expect(formatJobSummary(job)).toMatch(/^ {2}Cached +7 lines answered from the cache, \$0\.0012 saved$/m);
    expect(formatJobSummary(stages.completed(10))).not.toContain('Cached');
  });

  test('a failed job: failures by error code and the job-level error', () => {
    const summary = formatJobSummary(stages.failed());
    expect(summary).toMatch(/^ {2}Status +failed \(100%\)$/m);
    expect(summary).toMatch(/^ {4}invalid_json_line +2$/m);
    expect(summary).toMatch(/^ {2}Error +empty_batch: The file has no valid requests$/m);
    expect(summary).toMatch(/^ {2}Duration +5s \(2025-01-02 10:00:00Z to 2025-01-02 10:00:05Z\)$/m);
    expect(summary).not.toContain('Output');
  });

  test('failures by code, most frequent first, with the invalid lines the job did not itemise', () => {
    const job = batchObject((j) => ({
      ...j,
      status: 'in_progress',
      ingest: { ...j.ingest, done: true, linesRead: 20, requests: 10, invalid: 10 },
      counts: { succeeded: 5, failed: 13 },
      errors: [
        { code: 'url_mismatch', message: 'bad url', line: 1 },
        { code: 'duplicate_custom_id', message: 'dup', line: 2 },
        { code: 'duplicate_custom_id', message: 'dup', line: 3 },
      ],
    }));
    const lines = formatJobSummary(job, { nowInMs: T0_IN_MS + 90_000 }).split('\n');
    const failed = lines.findIndex((line) => line.startsWith('  Failed'));
    expect(lines.slice(failed, failed + 5)).toEqual([
      '  Failed                 13',
      '    duplicate_custom_id  2',
      '    url_mismatch         1',
      '    other invalid lines  7',
      '    failed requests      3 (codes per line in the error file)',
    ]);
    expect(lines).toContain('  Duration               1m 30s so far (since 2025-01-02 10:00:00Z)');
  });

  test('while the file is read the summary says so', () => {
    const summary = formatJobSummary(stages.reading(40));
    expect(summary).toContain('  Status     in_progress\n');
    expect(summary).toContain('40 read: 40 requests, 0 invalid, still reading');
    expect(summary).toContain('  Duration   started 2025-01-02 10:00:00Z');
  });

  test('finalizing never reads as 100%', () => {
    expect(formatJobSummary(stages.finalizing(5))).toContain('finalizing (99%)');
  });

  test('a cancelled job shows how far it got', () => {
    expect(formatJobSummary(stages.cancelled(10, 4))).toContain('cancelled (40%)');
  });
});

describe('formatJobTable', () => {
  test('aligned columns, one row per job, a growing total marked with +', () => {
    const table = formatJobTable([stages.completed(1000, 7), stages.reading(40, 3)]);
    expect(table.split('\n')).toEqual([
      'ID                                    STATUS       DONE/TOTAL   TOKENS IN/OUT  COST     CREATED',
      `${JOB_ID}  completed    1,000/1,000  12.3k/6.79k    $0.0051  2025-01-02 10:00:00Z`,
      `${JOB_ID}  in_progress  3/40+        0/0            $0.00    2025-01-02 10:00:00Z`,
    ]);
  });

  test('no jobs', () => {
    expect(formatJobTable([])).toBe('No jobs yet.');
  });
});
