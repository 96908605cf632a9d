import { request, type Dispatcher } from 'undici';
import type { CostReport } from '../src/core/costReport.js';
import {
  ApiError,
  ApiErrorCode,
  apiErrorOf,
  DEFAULT_API_URL,
  type BatchApiClientOptions,
  type CallOptions,
} from './apiClient.js';

export type { CostReport } from '../src/core/costReport.js';

export interface GetCostsQuery {
  readonly from: string;
  readonly to: string;
  /** day, model, job, tag:<key>, or a comma list such as day,tag:project. */
  readonly groupBy: string;
  /** `tag:<key>=<value>` filters, all of which must hold. */
  readonly filter?: readonly string[];
}

const DEFAULT_TIMEOUT_IN_MS = 30_000;

/** GET /costs, as JSON or as the API's own CSV (RFC 4180), in the BatchApiClient's manner. */
export class CostsApiClient {
  readonly baseUrl: string;
  readonly #functionKey: string | undefined;
  readonly #dispatcher: Dispatcher | undefined;
  readonly #timeoutInMs: number;

  constructor(options: BatchApiClientOptions = {}) {
    this.baseUrl = (options.baseUrl ?? DEFAULT_API_URL).replace(/\/+$/, '');
    this.#functionKey = options.functionKey;
    this.#dispatcher = options.dispatcher;
    this.#timeoutInMs = options.timeoutInMs ?? DEFAULT_TIMEOUT_IN_MS;
  }

  async getCosts(query: GetCostsQuery, options: CallOptions = {}): Promise<CostReport> {
    return JSON.parse(await this.#get(query, 'json', options)) as CostReport;
  }

  async getCostsCsv(query: GetCostsQuery, options: CallOptions = {}): Promise<string> {
    return this.#get(query, 'csv', options);
  }

  async #get(query: GetCostsQuery, format: 'json' | 'csv', options: CallOptions): Promise<string> {
    const search = new URLSearchParams({ from: query.from, to: query.to, groupBy: query.groupBy, format });
    for (const filter of query.filter ?? []) search.append('filter', filter);
    const url = `${this.baseUrl}/costs?${search.toString()}`;
    const headers: Record<string, string> = { accept: format === 'csv' ? 'text/csv' : 'application/json' };
    if (this.#functionKey !== undefined) headers['x-functions-key'] = this.#functionKey;
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        method: 'GET',
        headers,
        headersTimeout: this.#timeoutInMs,
        ...(options.abortSignal === undefined ? {} : { signal: options.abortSignal }),
        ...(this.#dispatcher === undefined ? {} : { dispatcher: this.#dispatcher }),
      });
    } catch (thrown) {
      if (options.abortSignal?.aborted === true) throw thrown;
      const detail =
        thrown instanceof Error ? ((thrown as Error & { code?: string }).code ?? thrown.message) : String(thrown);
      throw new ApiError(undefined, ApiErrorCode.unreachable, `Cannot reach the API at ${this.baseUrl} (${detail})`, {
        cause: thrown,
      });
    }
    const text = await response.body.text();
    if (response.statusCode === 200) return text;
    throw apiErrorOf(response.statusCode, text, url);
  }
}
