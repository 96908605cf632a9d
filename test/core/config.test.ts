import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/core/errors.js';

const base = {
  AzureWebJobsStorage: 'UseDevelopmentStorage=true',
  COSMOS_ENDPOINT: 'https://127.0.0.1:8081',
  COSMOS_KEY: 'k',
  PHI3_ENDPOINT: 'http://127.0.0.1:8000',
  PHI3_API_KEY: 'placeholder-key',
};

describe('loadConfig', () => {
  it('fills defaults', () => {
    const config = loadConfig(base);
    expect(config.inputContainer).toBe('batch-input');
    expect(config.requestQueue).toBe('batch-requests');
    expect(config.phi3.deployments).toEqual([
      {
        name: '127.0.0.1:8000',
        endpoint: 'http://127.0.0.1:8000',
        apiKey: 'placeholder-key',
        model: 'Phi-3-mini-4k-instruct',
        requestsPerMinute: 1000,
        tokensPerMinute: 200000,
        contextLength: 4096,
      },
    ]);
    expect(config.phi3.budgetScope).toBe('deployment');
    expect(config.phi3.streamMode).toBe('auto');
  });

  it.each([
    ['PHI3_RPM_LIMIT', 'lots'],
    ['PHI3_TPM_LIMIT', '-5'],
    ['PHI3_ENDPOINT', 'not a url'],
    ['INPUT_CONTAINER', 'Bad_Name'],
    ['PHI3_BUDGET_UTILIZATION', '1.5'],
    ['PHI3_RETURN_UNUSED_TOKENS', 'yes'],
    ['PHI3_STREAM', 'sometimes'],
    ['PHI3_PRICES', '[{"model":1}]'],
  ])('names %s when it is bad', (setting, value) => {
    expect(() => loadConfig({ ...base, [setting]: value })).toThrowError(new RegExp(`^Setting ${setting}:`));
  });

  it('names a missing required setting', () => {
    const { PHI3_API_KEY: _omit, ...rest } = base;
    const error = (() => {
      try {
        loadConfig(rest);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).setting).toBe('PHI3_API_KEY');
  });

  it('reads extra deployments, each with its own limits and a key from the setting it names', () => {
    const extra = JSON.stringify([
      {
        name: 'small-sweden',
        endpoint: 'https://small.swedencentral.models.ai.azure.com',
        apiKeySetting: 'SMALL_KEY',
        model: 'Phi-3-small-8k-instruct',
        requestsPerMinute: 500,
        tokensPerMinute: 100000,
      },
    ]);
    const config = loadConfig({ ...base, PHI3_EXTRA_DEPLOYMENTS: extra, SMALL_KEY: 'k2' });
    expect(config.phi3.deployments.map((d) => [d.name, d.apiKey, d.requestsPerMinute])).toEqual([
      ['127.0.0.1:8000', 'placeholder-key', 1000],
      ['small-sweden', 'k2', 500],
    ]);
    expect(() => loadConfig({ ...base, PHI3_EXTRA_DEPLOYMENTS: extra })).toThrowError(/^Setting SMALL_KEY:/);
    expect(() => loadConfig({ ...base, PHI3_EXTRA_DEPLOYMENTS: '[{"name":"x"}]' })).toThrowError(
      /^Setting PHI3_EXTRA_DEPLOYMENTS:/,
    );
  });

  it('accepts an identity-based storage connection', () => {
    const { AzureWebJobsStorage: _omit, ...rest } = base;
    const config = loadConfig({
      ...rest,
      AzureWebJobsStorage__accountName: 'acct',
      AzureWebJobsStorage__clientId: 'cid',
    });
    expect(config.storage).toEqual({
      kind: 'identity',
      blobServiceUri: 'https://acct.blob.core.windows.net',
      queueServiceUri: 'https://acct.queue.core.windows.net',
      clientId: 'cid',
    });
  });
});

describe('BUDGETS', () => {
  it('reads budgets on configured deployments and on tags; none by default', () => {
    expect(loadConfig(base).budgets).toEqual([]);
    const budgets = loadConfig({
      ...base,
      PHI3_DEPLOYMENT: 'phi3-mini',
      BUDGETS: 'deployment:phi3-mini:monthly=50,tag:project=x:daily=5:action=wait',
    }).budgets;
    expect(budgets.map((b) => [b.scope.kind, b.period, b.limitInNanos, b.action])).toEqual([
      ['deployment', 'monthly', 50e9, 'stop'],
      ['tag', 'daily', 5e9, 'wait'],
    ]);
  });

  it('stops the app naming the setting and the entry at fault', () => {
    const load = (text: string) => () => loadConfig({ ...base, PHI3_DEPLOYMENT: 'phi3-mini', BUDGETS: text });
    expect(load('deployment:phi3-mini:yearly=5')).toThrow(ConfigError);
    expect(load('deployment:phi3-mini:yearly=5')).toThrow(/^Setting BUDGETS: expected comma-separated budgets/);
    expect(load('deployment:phi3-mini:monthly=5$')).toThrow(/decimal amount.*"deployment:phi3-mini:monthly=5\$"/);
    expect(load('deployment:phi3-max:monthly=5')).toThrow(/configured deployments only \(phi3-mini\)/);
    expect(load('tag:team=a:daily=1:action=later')).toThrow(/action=stop or action=wait/);
  });
});
