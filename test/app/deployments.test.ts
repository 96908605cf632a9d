import { describe, expect, it } from 'vitest';
import { Deployments, type Deployment } from '../../src/app/deployments.js';

const fake = (name: string, model: string): Deployment => ({
  name,
  model,
  chat: {} as never,
  limiter: {} as never,
  tokenCounter: {} as never,
});

describe('Deployments', () => {
  const deployments = new Deployments([
    fake('mini-eastus2', 'Phi-3-mini-4k-instruct'),
    fake('mini-sweden', 'Phi-3-mini-4k-instruct'),
    fake('small', 'Phi-3-small-8k-instruct'),
  ]);

  it('routes a job to a deployment of the model its file asks for', () => {
    expect(deployments.forJob('phi-3-small-8k-instruct', 'job_a').name).toBe('small');
  });

  it('spreads jobs of one model over its deployments, stably by job id', () => {
    const names = new Set(
      Array.from({ length: 20 }, (_, i) => deployments.forJob('Phi-3-mini-4k-instruct', `job_${i}`).name),
    );
    expect(names).toEqual(new Set(['mini-eastus2', 'mini-sweden']));
    expect(deployments.forJob('Phi-3-mini-4k-instruct', 'job_7').name).toBe(
      deployments.forJob('Phi-3-mini-4k-instruct', 'job_7').name,
    );
  });

  it('falls back to the primary deployment for an unknown model or name', () => {
    expect(deployments.forJob('gpt-4o', 'job_a').name).toBe('mini-eastus2');
    expect(deployments.forJob(undefined, 'job_a').name).toBe('mini-eastus2');
    expect(deployments.byName('gone').name).toBe('mini-eastus2');
  });
});
