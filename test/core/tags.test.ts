import { describe, expect, it } from 'vitest';
import { parseCostReportQuery } from '../../src/app/costReports.js';
import { buildCostReport, costReportCsv, type CostRollup } from '../../src/core/costReport.js';
import { parseTagPair, parseTags, tagsFromBlobMetadata, tagsToBlobMetadata, TAG_LIMITS } from '../../src/core/tags.js';

describe('parseTags', () => {
  it('lowercases keys and keeps values', () => {
    expect(parseTags({ Project: 'Apollo 11', team_2: 'search/ranking' })).toEqual({
      ok: true,
      value: { project: 'Apollo 11', team_2: 'search/ranking' },
    });
  });

  it.each([
    [{ 'my key': 'x' }, 'letters, digits or underscores'],
    [{ 'team-a': 'x' }, 'letters, digits or underscores'],
    [{ '': 'x' }, 'letters, digits or underscores'],
    [{ ['k'.repeat(65)]: 'x' }, '1 to 64'],
    [{ project: '' }, '1 to 256 characters'],
    [{ project: 'v'.repeat(257) }, '1 to 256 characters'],
    [{ project: 'a,b' }, 'without commas'],
    [{ project: 'équipe' }, 'printable ASCII'],
    [{ project: 'a\nb' }, 'printable ASCII'],
    [{ Project: 'a', project: 'b' }, 'given twice'],
  ])('refuses %j, saying why', (source, why) => {
    const result = parseTags(source);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toContain(why);
  });

  it(`takes at most ${TAG_LIMITS.maxTags} tags`, () => {
    const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']));
    expect(parseTags(many)).toEqual({ ok: false, error: 'at most 16 tags, got 17' });
  });

  it('reads key=value pairs whose value may hold =', () => {
    expect(parseTagPair('Project=a=b')).toEqual({ ok: true, value: ['project', 'a=b'] });
    expect(parseTagPair('=x').ok).toBe(false);
    expect(parseTagPair('project').ok).toBe(false);
  });

  it('round-trips through tag_ blob metadata and ignores other metadata', () => {
    const metadata = { ...tagsToBlobMetadata({ project: 'apollo' }), maxcost: '2.50', TAG_Team: 'search' };
    expect(metadata).toMatchObject({ tag_project: 'apollo' });
    expect(tagsFromBlobMetadata(metadata)).toEqual({ project: 'apollo', Team: 'search' });
  });
});

describe('cost reports by tag', () => {
  const rollup = (jobId: string, costInNanos: number, tags?: Record<string, string>): CostRollup => ({
    id: `2026-11-27|m|${jobId}`,
    day: '2026-11-27',
    model: 'm',
    jobId,
    calls: 1,
    promptTokens: 10,
    completionTokens: 5,
    costInNanos,
    currency: 'USD',
    refreshedAtInMs: 0,
    ...(tags === undefined ? {} : { tags }),
  });
  const rollups = [
    rollup('job_a', 100, { project: 'apollo', team: 'x' }),
    rollup('job_b', 20, { project: 'apollo', team: 'y' }),
    rollup('job_c', 3, { project: 'hermes' }),
    rollup('job_d', 4000),
  ];
  const options = { from: '2026-11-01', to: '2026-11-30', defaultCurrency: 'USD' };

  it('groups by a tag, jobs without it in one untagged row', () => {
    const report = buildCostReport(rollups, { ...options, groupBy: ['tag:project'] });
    expect(report.rows.map((r) => [r['tag:project'], r.cost_nanos])).toEqual([
      ['', 4000],
      ['apollo', 120],
      ['hermes', 3],
    ]);
    expect(report.total.cost_nanos).toBe(4123);
    expect(costReportCsv(report).split('\r\n')[0]).toBe(
      'tag:project,calls,unconfirmed_calls,input_tokens,output_tokens,total_tokens,cost,currency',
    );
  });

  it('filters by tag pairs, all of which must hold', () => {
    const report = buildCostReport(rollups, {
      ...options,
      groupBy: ['job'],
      filter: { project: 'apollo', team: 'y' },
    });
    expect(report.rows.map((r) => r.job)).toEqual(['job_b']);
    expect(report.filter).toEqual({ project: 'apollo', team: 'y' });
  });

  it('reads groupBy=tag:<key> and filter=tag:<key>=<value> from the query', () => {
    const query = parseCostReportQuery(
      new URLSearchParams([
        ['from', '2026-11-01'],
        ['to', '2026-11-30'],
        ['groupBy', 'day,tag:Project'],
        ['filter', 'tag:team=x'],
        ['filter', 'tag:env=prod,tag:tier=a'],
      ]),
    );
    expect(query.groupBy).toEqual(['day', 'tag:project']);
    expect(query.filter).toEqual({ team: 'x', env: 'prod', tier: 'a' });
  });

  it.each([
    [{ groupBy: 'tag:' }, 'groupBy'],
    [{ groupBy: 'tag:my key' }, 'groupBy'],
    [{ filter: 'project=x' }, 'filter'],
    [{ filter: 'tag:project' }, 'filter'],
  ])('refuses %j naming the parameter', (params, param) => {
    expect(() =>
      parseCostReportQuery(new URLSearchParams({ from: '2026-11-01', to: '2026-11-02', ...params })),
    ).toThrow(expect.objectContaining({ parameter: param }));
  });
});
