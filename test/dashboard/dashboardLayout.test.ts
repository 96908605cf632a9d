import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { DASHBOARD_CSS } from '../../src/dashboard/dashboardStyles.js';

/** The declarations of one CSS rule, by its exact selector. */
function rule(css: string, selector: string): Record<string, string> {
  const match = new RegExp(`(?:^|\\n)${selector.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\{([^}]*)\\}`).exec(css);
  if (match === null) return {};
  return Object.fromEntries(
    match[1]!
      .split(';')
      .map((d) => d.split(':').map((p) => p.trim()))
      .filter((d) => d[0] !== '')
      .map((d) => [d[0]!, d[1]!]),
  );
}

describe('dashboard layout', () => {
  it('a very long blob name is cut short with an ellipsis (full name on hover) instead of widening the table', () => {
    const jobsTable = readFileSync(new URL('../../src/dashboard/browser/jobsTable.ts', import.meta.url), 'utf8');
    expect(jobsTable).toContain("el('div', { class: 'muted blob-name', title: job.input_blob }, [job.input_blob])");
    expect(rule(DASHBOARD_CSS, '.blob-name')).toMatchObject({
      'max-width': expect.stringMatching(/^\d+ch$/),
      overflow: 'hidden',
      'text-overflow': 'ellipsis',
      'white-space': 'nowrap',
    });
  });
});
