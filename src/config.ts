import { ConfigError } from './core/errors.js';
import { parseAmountToNanos } from './core/money.js';
import { DEFAULT_PRICES, type ModelPrice } from './core/pricing.js';
import { defaultContextLength } from './core/requestLimits.js';
import { parseBudgets, type SpendBudget } from './core/spendBudgets.js';
import { ResponseCacheMode, type ResponseCachePolicy } from './core/responseCache.js';
import type { RetryPolicy } from './core/retryPolicy.js';
import { COMPLETION_WINDOW_LIMITS } from './core/openai/completionWindow.js';
import { DEFAULT_WEBHOOK_RETRY_DELAYS_IN_MS, isWebhookSecret } from './core/openai/standardWebhooks.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface DeploymentConfig {
  readonly name: string;
  readonly endpoint: string;
  readonly apiKey: string;
  readonly model: string;
  readonly requestsPerMinute: number;
  readonly tokensPerMinute: number;
  /** Prompt + max_tokens the model accepts; lines asking for more fail without a call. */
  readonly contextLength: number;
}

/** How a client reaches a storage service: a connection string locally, an identity in Azure. */
export type StorageConnection =
  | { readonly kind: 'connectionString'; readonly connectionString: string }
  | {
      readonly kind: 'identity';
      readonly blobServiceUri: string;
      readonly queueServiceUri: string;
      readonly clientId: string | undefined;
    };

export interface AppConfig {
  readonly storage: StorageConnection;
  readonly inputContainer: string;
  readonly outputContainer: string;
  readonly requestQueue: string;
  readonly controlQueue: string;
  readonly cosmos: {
    readonly endpoint: string;
    /** Absent in Azure: the managed identity is used instead. */
    readonly key: string | undefined;
    readonly clientId: string | undefined;
    readonly database: string;
    readonly jobsContainer: string;
    readonly linesContainer: string;
    readonly budgetContainer: string;
    readonly ledgerContainer: string;
    /** Cost rollups per day × model × job, partitioned by `/day`. */
    readonly rollupsContainer: string;
    /** Stored answers of the response cache, partitioned by `/id` (the request's hash). */
    readonly cacheContainer: string;
    /** Local stand-in only: a CA certificate to trust for the loopback endpoint. */
    readonly caCertFile: string | undefined;
  };
  readonly phi3: {
    /** The first is the primary deployment; more come from PHI3_EXTRA_DEPLOYMENTS. */
    readonly deployments: readonly DeploymentConfig[];
    readonly apiVersion: string;
    readonly budgetUtilization: number;
    /** `deployment`: one budget shared by every instance (through Cosmos); `instance`: each process alone. */
    readonly budgetScope: 'deployment' | 'instance';
    readonly budgetSliceInMs: number;
    /** The shortest time limit of a call: one that may write more gets what its max_tokens need (decision 0010). */
    readonly timeoutInMs: number;
    /** Which calls are streamed: `auto` those a whole-answer time limit could cut (decision 0010). */
    readonly streamMode: 'auto' | 'always' | 'never';
    /** A ceiling on calls under way per instance: the working number follows the latency (decision 0010). */
    readonly maxConcurrency: number;
    readonly defaultMaxTokens: number;
    readonly returnUnusedTokens: boolean;
  };
  readonly retry: RetryPolicy;
  readonly limits: {
    readonly maxLineBytes: number;
    readonly maxLinesPerFile: number;
    readonly maxPageSize: number;
    /** Requests per work message: more means fewer queue transactions, fewer means more instances can share a small job. */
    readonly maxRequestsPerMessage: number;
    /** Lines one ingest invocation reads before a continuation message takes over. */
    readonly ingestChunkLines: number;
    /** Lines whose prompt tokens are counted exactly for the job's estimate; the rest are estimated from them. */
    readonly ingestExactTokenLines: number;
  };
  readonly prices: readonly ModelPrice[];
  /** Spending cap of jobs whose blob has no `maxcost` metadata, in nano-units of the price currency; undefined = none. */
  readonly defaultMaxCostPerJobInNanos: number | undefined;
  /** Daily and monthly spending limits per deployment or tag value (BUDGETS); empty: none. */
  readonly budgets: readonly SpendBudget[];
  readonly sweeper: { readonly stallInMs: number };
  /** Which requests are answered from stored answers, for how long, and the largest answer stored. */
  readonly responseCache: ResponseCachePolicy;
  /** Days a finished job's outcomes and files are kept, and the ledger and rollups (Cosmos TTL); undefined = for ever. */
  readonly retention: {
    readonly outcomesDays: number | undefined;
    readonly filesDays: number | undefined;
    readonly ledgerDays: number | undefined;
  };
  /** The completion windows a batch may ask for (OpenAI's is 24h; from this minimum to 7 days here). */
  readonly completionWindow: { readonly minInMs: number; readonly maxInMs: number };
  /** Where final batch events are posted, signed with the secret; undefined: no webhooks. */
  readonly webhook:
    { readonly url: string; readonly secret: string; readonly retryDelaysInMs: readonly number[] } | undefined;
}

/** Every setting the app reads, with its default (undefined = required or optional without default). */
export const SETTINGS = {
  AzureWebJobsStorage: undefined,
  INPUT_CONTAINER: 'batch-input',
  OUTPUT_CONTAINER: 'batch-output',
  REQUEST_QUEUE: 'batch-requests',
  CONTROL_QUEUE: 'batch-control',
  COSMOS_ENDPOINT: undefined,
  COSMOS_KEY: undefined,
  COSMOS_DATABASE: 'phi3batch',
  COSMOS_JOBS_CONTAINER: 'jobs',
  COSMOS_LINES_CONTAINER: 'lines',
  COSMOS_BUDGET_CONTAINER: 'budget',
  COSMOS_LEDGER_CONTAINER: 'ledger',
  COSMOS_ROLLUPS_CONTAINER: 'rollups',
  COSMOS_CACHE_CONTAINER: 'cache',
  COSMOS_CA_CERT_FILE: undefined,
  AZURE_CLIENT_ID: undefined,
  PHI3_ENDPOINT: undefined,
  PHI3_API_KEY: undefined,
  PHI3_MODEL: 'Phi-3-mini-4k-instruct',
  PHI3_DEPLOYMENT: undefined,
  PHI3_CONTEXT_LENGTH: undefined,
  PHI3_API_VERSION: '2024-05-01-preview',
  PHI3_RPM_LIMIT: '1000',
  PHI3_TPM_LIMIT: '200000',
  PHI3_BUDGET_UTILIZATION: '0.98',
  PHI3_BUDGET_SCOPE: 'deployment',
  PHI3_BUDGET_SLICE_MS: '1000',
  PHI3_EXTRA_DEPLOYMENTS: undefined,
  PHI3_TIMEOUT_MS: '60000',
  PHI3_STREAM: 'auto',
  PHI3_MAX_CONCURRENCY: '1024',
  DEFAULT_MAX_TOKENS: '1024',
  PHI3_RETURN_UNUSED_TOKENS: 'false',
  RETRY_MAX_ATTEMPTS: '6',
  RETRY_BASE_DELAY_MS: '500',
  RETRY_MAX_DELAY_MS: '30000',
  RETRY_MAX_INLINE_WAIT_MS: '30000',
  RETRY_MAX_REQUEUE_DELAY_MS: '3600000',
  MAX_LINE_BYTES: '1048576',
  MAX_LINES_PER_FILE: '1000000',
  MAX_PAGE_SIZE: '100',
  QUEUE_MESSAGE_MAX_REQUESTS: '32',
  INGEST_CHUNK_LINES: '200000',
  INGEST_EXACT_TOKEN_LINES: '1000',
  SWEEPER_SCHEDULE: '0 */5 * * * *',
  FEEDER_SCHEDULE: '*/10 * * * * *',
  SWEEPER_STALL_MS: '900000',
  MIN_COMPLETION_WINDOW_MS: '3600000',
  WEBHOOK_URL: undefined,
  WEBHOOK_SECRET: undefined,
  WEBHOOK_RETRY_DELAYS_MS: DEFAULT_WEBHOOK_RETRY_DELAYS_IN_MS.join(','),
  PHI3_PRICES: undefined,
  DEFAULT_MAX_COST_PER_JOB: undefined,
  BUDGETS: undefined,
  RESPONSE_CACHE: 'temperature-zero',
  RESPONSE_CACHE_MAX_AGE_DAYS: '30',
  RESPONSE_CACHE_MAX_ANSWER_BYTES: '65536',
  RETENTION_OUTCOMES_DAYS: '30',
  RETENTION_FILES_DAYS: '30',
  LEDGER_RETENTION_DAYS: '400',
} as const satisfies Record<string, string | undefined>;

type SettingName = keyof typeof SETTINGS;

class SettingsReader {
  constructor(private readonly env: Env) {}

  raw(name: SettingName): string | undefined {
    const value = this.env[name]?.trim();
    return value === undefined || value === '' ? SETTINGS[name] : value;
  }

  required(name: SettingName, what: string): string {
    const value = this.raw(name);
    if (value === undefined) throw new ConfigError(name, what);
    return value;
  }

  name(name: SettingName): string {
    // Storage names: lowercase letters, digits and hyphens, 3-63 chars (queue and container rules agree).
    const value = this.required(name, 'a storage container or queue name');
    if (!/^[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]$/.test(value)) {
      throw new ConfigError(name, 'a lowercase name of 3-63 letters, digits and single hyphens', value);
    }
    return value;
  }

  url(name: SettingName): string {
    const value = this.required(name, 'an http(s) URL');
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      throw new ConfigError(name, 'an http(s) URL', value);
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
      throw new ConfigError(name, 'an http(s) URL', value);
    return value.replace(/\/+$/, '');
  }

  integer(name: SettingName, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const text = this.required(name, `an integer from ${min} to ${max}`);
    const value = Number(text);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new ConfigError(name, `an integer from ${min} to ${max}`, text);
    }
    return value;
  }

  fraction(name: SettingName): number {
    const text = this.required(name, 'a number greater than 0 and at most 1');
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0 || value > 1) {
      throw new ConfigError(name, 'a number greater than 0 and at most 1', text);
    }
    return value;
  }

  oneOf<const T extends string>(name: SettingName, values: readonly T[]): T {
    const text = this.required(name, `one of ${values.join(', ')}`);
    if (!(values as readonly string[]).includes(text)) throw new ConfigError(name, `one of ${values.join(', ')}`, text);
    return text as T;
  }

  boolean(name: SettingName): boolean {
    const text = this.required(name, 'true or false');
    if (text === 'true') return true;
    if (text === 'false') return false;
    throw new ConfigError(name, 'true or false', text);
  }
}

function readStorage(env: Env, reader: SettingsReader): StorageConnection {
  const connectionString = reader.raw('AzureWebJobsStorage');
  if (connectionString !== undefined) return { kind: 'connectionString', connectionString };
  const blobServiceUri = env['AzureWebJobsStorage__blobServiceUri'];
  const queueServiceUri = env['AzureWebJobsStorage__queueServiceUri'];
  const accountName = env['AzureWebJobsStorage__accountName'];
  const clientId = env['AzureWebJobsStorage__clientId'];
  if (blobServiceUri !== undefined && queueServiceUri !== undefined) {
    return { kind: 'identity', blobServiceUri, queueServiceUri, clientId };
  }
  if (accountName !== undefined) {
    return {
      kind: 'identity',
      blobServiceUri: `https://${accountName}.blob.core.windows.net`,
      queueServiceUri: `https://${accountName}.queue.core.windows.net`,
      clientId,
    };
  }
  throw new ConfigError(
    'AzureWebJobsStorage',
    'a storage connection string, or AzureWebJobsStorage__accountName (or __blobServiceUri and __queueServiceUri) for an identity connection',
  );
}

function readExtraDeployments(env: Env, reader: SettingsReader): DeploymentConfig[] {
  const text = reader.raw('PHI3_EXTRA_DEPLOYMENTS');
  if (text === undefined) return [];
  const expected =
    'a JSON array of {name, endpoint, apiKeySetting (the name of the setting holding its key), model, requestsPerMinute, tokensPerMinute, ' +
    'and optionally contextLength}';
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError('PHI3_EXTRA_DEPLOYMENTS', expected, text);
  }
  if (!Array.isArray(parsed)) throw new ConfigError('PHI3_EXTRA_DEPLOYMENTS', expected, text);
  return parsed.map((entry: unknown): DeploymentConfig => {
    const d = (entry ?? {}) as Record<string, unknown>;
    const positive = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v > 0;
    if (
      typeof d['name'] !== 'string' ||
      typeof d['endpoint'] !== 'string' ||
      typeof d['apiKeySetting'] !== 'string' ||
      typeof d['model'] !== 'string' ||
      !positive(d['requestsPerMinute']) ||
      !positive(d['tokensPerMinute']) ||
      (d['contextLength'] !== undefined && !positive(d['contextLength']))
    ) {
      throw new ConfigError('PHI3_EXTRA_DEPLOYMENTS', expected, JSON.stringify({ ...d, apiKey: undefined }));
    }
    try {
      new URL(d['endpoint']);
    } catch {
      throw new ConfigError('PHI3_EXTRA_DEPLOYMENTS', `${expected}; endpoint must be a URL`, d['endpoint']);
    }
    const apiKey = env[d['apiKeySetting']]?.trim();
    if (apiKey === undefined || apiKey === '') {
      throw new ConfigError(
        d['apiKeySetting'],
        `the key of deployment "${d['name']}" (named by PHI3_EXTRA_DEPLOYMENTS)`,
      );
    }
    return {
      name: d['name'],
      endpoint: d['endpoint'].replace(/\/+$/, ''),
      apiKey,
      model: d['model'],
      requestsPerMinute: d['requestsPerMinute'] as number,
      tokensPerMinute: d['tokensPerMinute'] as number,
      contextLength: (d['contextLength'] as number | undefined) ?? defaultContextLength(d['model']),
    };
  });
}

function readPrices(reader: SettingsReader): readonly ModelPrice[] {
  const text = reader.raw('PHI3_PRICES');
  if (text === undefined) return DEFAULT_PRICES;
  const expected = 'a JSON array of {model, inputPerMillion, outputPerMillion, currency, effectiveFrom: "YYYY-MM-DD"}';
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError('PHI3_PRICES', expected, text);
  }
  if (!Array.isArray(parsed)) throw new ConfigError('PHI3_PRICES', expected, text);
  return parsed.map((entry: unknown): ModelPrice => {
    const p = entry as Partial<ModelPrice> | null;
    const valid =
      p !== null &&
      typeof p === 'object' &&
      typeof p.model === 'string' &&
      typeof p.inputPerMillion === 'number' &&
      p.inputPerMillion >= 0 &&
      typeof p.outputPerMillion === 'number' &&
      p.outputPerMillion >= 0 &&
      typeof p.effectiveFrom === 'string' &&
      /^\d{4}-\d{2}-\d{2}$/.test(p.effectiveFrom);
    if (!valid) throw new ConfigError('PHI3_PRICES', expected, JSON.stringify(entry));
    return {
      model: p.model,
      inputPerMillion: p.inputPerMillion,
      outputPerMillion: p.outputPerMillion,
      currency: p.currency ?? 'USD',
      effectiveFrom: p.effectiveFrom,
    };
  });
}

function readDefaultMaxCost(reader: SettingsReader): number | undefined {
  const text = reader.raw('DEFAULT_MAX_COST_PER_JOB');
  if (text === undefined) return undefined;
  const nanos = parseAmountToNanos(text);
  if (nanos === undefined)
    throw new ConfigError(
      'DEFAULT_MAX_COST_PER_JOB',
      'a decimal amount in the price currency such as 2.50, or empty for no cap',
      text,
    );
  return nanos;
}

/**
 * Retention in days, 0 = for ever. Outcomes outlive the longest completion window (Cosmos TTL counts
 * from each outcome's write, so a running job must not lose any); the ledger, the billing record,
 * outlives both.
 */
function readRetention(reader: SettingsReader): AppConfig['retention'] {
  const days = (name: SettingName, min: number): number | undefined => {
    const text = reader.required(name, `0 (keep for ever) or a number of days from ${min}`);
    const value = Number(text);
    if (!Number.isInteger(value) || (value !== 0 && value < min) || value > 36_500)
      throw new ConfigError(name, `0 (keep for ever) or a whole number of days from ${min} to 36500`, text);
    return value === 0 ? undefined : value;
  };
  const outcomesDays = days('RETENTION_OUTCOMES_DAYS', Math.ceil(COMPLETION_WINDOW_LIMITS.maxInMs / 86_400_000) + 1);
  const filesDays = days('RETENTION_FILES_DAYS', 1);
  const ledgerDays = days('LEDGER_RETENTION_DAYS', 31);
  const longest = Math.max(outcomesDays ?? Infinity, filesDays ?? Infinity);
  if (ledgerDays !== undefined && ledgerDays < longest)
    throw new ConfigError(
      'LEDGER_RETENTION_DAYS',
      'at least RETENTION_OUTCOMES_DAYS and RETENTION_FILES_DAYS (0 keeps the ledger for ever)',
      String(ledgerDays),
    );
  return { outcomesDays, filesDays, ledgerDays };
}

/** Reads and validates every setting once. Throws a ConfigError naming the first bad setting. */
export function loadConfig(env: Env): AppConfig {
  const reader = new SettingsReader(env);
  const model = reader.required('PHI3_MODEL', 'a Phi-3 model name');
  const endpoint = reader.url('PHI3_ENDPOINT');
  const apiKey = reader.required('PHI3_API_KEY', 'the endpoint key');
  const config: AppConfig = {
    storage: readStorage(env, reader),
    inputContainer: reader.name('INPUT_CONTAINER'),
    outputContainer: reader.name('OUTPUT_CONTAINER'),
    requestQueue: reader.name('REQUEST_QUEUE'),
    controlQueue: reader.name('CONTROL_QUEUE'),
    cosmos: {
      endpoint: reader.url('COSMOS_ENDPOINT'),
      key: reader.raw('COSMOS_KEY'),
      clientId: reader.raw('AZURE_CLIENT_ID'),
      database: reader.required('COSMOS_DATABASE', 'a database name'),
      jobsContainer: reader.required('COSMOS_JOBS_CONTAINER', 'a container name'),
      linesContainer: reader.required('COSMOS_LINES_CONTAINER', 'a container name'),
      budgetContainer: reader.required('COSMOS_BUDGET_CONTAINER', 'a container name'),
      ledgerContainer: reader.required('COSMOS_LEDGER_CONTAINER', 'a container name'),
      rollupsContainer: reader.required('COSMOS_ROLLUPS_CONTAINER', 'a container name'),
      cacheContainer: reader.required('COSMOS_CACHE_CONTAINER', 'a container name'),
      caCertFile: reader.raw('COSMOS_CA_CERT_FILE'),
    },
    phi3: {
      deployments: [
        {
          name: reader.raw('PHI3_DEPLOYMENT') ?? new URL(endpoint).host,
          endpoint,
          apiKey,
          model,
          requestsPerMinute: reader.integer('PHI3_RPM_LIMIT', 1),
          tokensPerMinute: reader.integer('PHI3_TPM_LIMIT', 1),
          // Empty: what the model's name says (4k, 8k or 128k variants).
          contextLength:
            reader.raw('PHI3_CONTEXT_LENGTH') === undefined
              ? defaultContextLength(model)
              : reader.integer('PHI3_CONTEXT_LENGTH', 1),
        },
        ...readExtraDeployments(env, reader),
      ],
      apiVersion: reader.required('PHI3_API_VERSION', 'an api-version string'),
      budgetUtilization: reader.fraction('PHI3_BUDGET_UTILIZATION'),
      budgetScope: reader.oneOf('PHI3_BUDGET_SCOPE', ['deployment', 'instance'] as const),
      budgetSliceInMs: reader.integer('PHI3_BUDGET_SLICE_MS', 50, 60_000),
      timeoutInMs: reader.integer('PHI3_TIMEOUT_MS', 100),
      streamMode: reader.oneOf('PHI3_STREAM', ['auto', 'always', 'never'] as const),
      maxConcurrency: reader.integer('PHI3_MAX_CONCURRENCY', 1, 4096),
      defaultMaxTokens: reader.integer('DEFAULT_MAX_TOKENS', 1),
      returnUnusedTokens: reader.boolean('PHI3_RETURN_UNUSED_TOKENS'),
    },
    retry: {
      maxAttempts: reader.integer('RETRY_MAX_ATTEMPTS', 1, 100),
      baseDelayInMs: reader.integer('RETRY_BASE_DELAY_MS', 0),
      maxDelayInMs: reader.integer('RETRY_MAX_DELAY_MS', 0),
      maxInlineWaitInMs: reader.integer('RETRY_MAX_INLINE_WAIT_MS', 0),
      maxRequeueDelayInMs: reader.integer('RETRY_MAX_REQUEUE_DELAY_MS', 1000, 7 * 24 * 3600 * 1000),
    },
    limits: {
      maxLineBytes: reader.integer('MAX_LINE_BYTES', 1024, 16 * 1024 * 1024),
      maxLinesPerFile: reader.integer('MAX_LINES_PER_FILE', 1),
      maxPageSize: reader.integer('MAX_PAGE_SIZE', 1, 1000),
      maxRequestsPerMessage: reader.integer('QUEUE_MESSAGE_MAX_REQUESTS', 1, 256),
      ingestChunkLines: reader.integer('INGEST_CHUNK_LINES', 1),
      ingestExactTokenLines: reader.integer('INGEST_EXACT_TOKEN_LINES', 0),
    },
    prices: readPrices(reader),
    defaultMaxCostPerJobInNanos: readDefaultMaxCost(reader),
    budgets: [],
    sweeper: { stallInMs: reader.integer('SWEEPER_STALL_MS', 1000) },
    responseCache: {
      mode: reader.oneOf('RESPONSE_CACHE', Object.values(ResponseCacheMode)),
      maxAgeInMs: reader.integer('RESPONSE_CACHE_MAX_AGE_DAYS', 1, 3650) * 86_400_000,
      // Below Cosmos DB's 2 MB item limit, with room for the rest of the document.
      maxAnswerBytes: reader.integer('RESPONSE_CACHE_MAX_ANSWER_BYTES', 1024, 1_500_000),
    },
    retention: readRetention(reader),
    webhook: readWebhook(reader),
    completionWindow: {
      minInMs: reader.integer('MIN_COMPLETION_WINDOW_MS', 1000, COMPLETION_WINDOW_LIMITS.maxInMs),
      maxInMs: COMPLETION_WINDOW_LIMITS.maxInMs,
    },
  };
  const names = config.phi3.deployments.map((d) => d.name);
  if (new Set(names).size !== names.length)
    throw new ConfigError(
      'PHI3_EXTRA_DEPLOYMENTS',
      'deployment names that differ from each other and from PHI3_DEPLOYMENT',
      names.join(', '),
    );
  return { ...config, budgets: readBudgets(reader, names) };
}

function readBudgets(reader: SettingsReader, deploymentNames: readonly string[]): SpendBudget[] {
  const text = reader.raw('BUDGETS');
  if (text === undefined) return [];
  const parsed = parseBudgets(text);
  if ('error' in parsed) throw new ConfigError('BUDGETS', parsed.error.expected, parsed.error.received);
  for (const budget of parsed.budgets) {
    const scope = budget.scope;
    // A budget on a deployment that does not exist would never count anything: a typo, said at start-up.
    if (scope.kind === 'deployment' && !deploymentNames.includes(scope.deployment))
      throw new ConfigError(
        'BUDGETS',
        `budgets on configured deployments only (${deploymentNames.join(', ')})`,
        `deployment:${scope.deployment}`,
      );
  }
  return parsed.budgets;
}

function readWebhook(reader: SettingsReader): AppConfig['webhook'] {
  if (reader.raw('WEBHOOK_URL') === undefined) return undefined;
  const url = reader.url('WEBHOOK_URL');
  const secret = reader.raw('WEBHOOK_SECRET');
  // Never echo the value: it is a secret (or an unresolved Key Vault reference).
  if (secret === undefined || !isWebhookSecret(secret))
    throw new ConfigError(
      'WEBHOOK_SECRET',
      'a signing secret like whsec_ followed by base64 (at least 16 bytes) when WEBHOOK_URL is set',
    );
  const text = reader.raw('WEBHOOK_RETRY_DELAYS_MS') ?? '';
  const delays = text.split(',').map((part) => Number(part.trim()));
  if (delays.some((d) => !Number.isInteger(d) || d < 0 || d > 7 * 86_400_000)) {
    throw new ConfigError(
      'WEBHOOK_RETRY_DELAYS_MS',
      'comma-separated delays in milliseconds, each from 0 to 7 days',
      text,
    );
  }
  return { url, secret, retryDelaysInMs: delays };
}

/**
 * The app settings with every default filled in. Binding expressions such as `%REQUEST_QUEUE%` are
 * resolved by the Functions host from app settings alone, so wherever the host runs (Azure, or the
 * local host) these names must be set: infra sets them explicitly; locally this fills the gaps.
 */
export function withSettingDefaults(env: Env): Record<string, string | undefined> {
  const filled: Record<string, string | undefined> = { ...env };
  for (const [name, fallback] of Object.entries(SETTINGS)) {
    if (fallback !== undefined && (filled[name] === undefined || filled[name]?.trim() === '')) filled[name] = fallback;
  }
  return filled;
}
