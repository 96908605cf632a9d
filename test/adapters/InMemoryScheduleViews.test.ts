import { describe, expect, it } from 'vitest';
import { InMemoryScheduleViews } from '../../src/adapters/memory/InMemoryScheduleViews.js';

describe('InMemoryScheduleViews', () => {
  it('is empty until views are set; each deployment has its own; a removed view is gone', async () => {
    const views = new InMemoryScheduleViews();
    expect((await views.viewsFor('mini')).size).toBe(0);
    views.set('mini', 'job_a', { share: 0.75, etaAtInMs: 1_000 });
    views.set('medium', 'job_b', { share: 1, etaAtInMs: undefined });
    expect([...(await views.viewsFor('mini'))]).toEqual([['job_a', { share: 0.75, etaAtInMs: 1_000 }]]);
    views.set('mini', 'job_a', undefined);
    expect((await views.viewsFor('mini')).size).toBe(0);
    expect((await views.viewsFor('medium')).get('job_b')).toEqual({ share: 1, etaAtInMs: undefined });
  });

  it('hands out a copy: a later change does not move a view already read', async () => {
    const views = new InMemoryScheduleViews();
    views.set('mini', 'job_a', { share: 0.5, etaAtInMs: undefined });
    const read = await views.viewsFor('mini');
    views.set('mini', 'job_a', { share: 0.1, etaAtInMs: undefined });
    expect(read.get('job_a')?.share).toBe(0.5);
  });
});
