import { StringDecoder } from 'node:string_decoder';
import { request, type Dispatcher } from 'undici';
import type { JobPage, ResultKind } from '../src/app/jobQueries.js';
import type { BatchObject } from '../src/core/batchObject.js';

export type { JobPage, ResultKind } from '../src/app/jobQueries.js';

export const DEFAULT_API_URL = 'http://127.0.0.1:7071/api';

/** Codes this client gives errors that did not come with one from the API. */
export const ApiErrorCode = {
  unreachable: 'api_unreachable',
  unauthorized: 'unauthorized',
  /** A 404 that is not the API's own "no such job": usually a wrong base URL. */
  routeNotFound: 'route_not_found',
  invalidResponse: 'invalid_response',
} as const;

/** A failed API call: `status` is the HTTP status, or undefined when no response arrived. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly status: number | undefined;
  readonly code: string;
  readonly param: string | null;

  constructor(
    status: number | undefined,
    code: string,
    message: string,
    options: { param?: string | null; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = status;
    this.code = code;
    this.param = options.param ?? null;
  }

  /** Worth trying again: no response, or the server's fault. */
  get retryable(): boolean {
    return this.status === undefined || this.status >= 500;
  }
}

export interface BatchApiClientOptions {
  /** Default http://127.0.0.1:7071/api, the local functions host. */
  readonly baseUrl?: string;
  /** Sent as `x-functions-key`: the HTTP functions use authLevel 'function'. */
  readonly functionKey?: string | undefined;
  readonly dispatcher?: Dispatcher;
  /** How long to wait for a response's headers. */
  readonly timeoutInMs?: number;
}

export interface CallOptions {
  readonly abortSignal?: AbortSignal;
}

export interface ListJobsOptions extends CallOptions {
  readonly limit?: number;
  /** The `next_page` of an earlier page. */
  readonly after?: string;
  /** Only jobs in this status. */
  readonly status?: string;
  /** Only jobs whose batch metadata has every one of these pairs. */
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface RetryResult {
  readonly retried_lines: number;
  readonly job: BatchObject;
}

export interface GetResultsOptions extends CallOptions {
  readonly kind?: ResultKind;
}

export interface ResultsResponse {
  /** The job's status when the response started (`x-job-status`): results of an unfinished job are partial. */
  readonly jobStatus: string | undefined;
  /** The JSONL bytes, streamed as they arrive. */
  readonly body: AsyncIterable<Buffer>;
}

const DEFAULT_TIMEOUT_IN_MS = 30_000;

/** The phi3-batch HTTP API: job status, job lists and result files. */
export class BatchApiClient {
  readonly baseUrl: string;
  private readonly functionKey: string | undefined;
  private readonly dispatcher: Dispatcher | undefined;
  private readonly timeoutInMs: number;

  constructor(options: BatchApiClientOptions = {}) {
    this.baseUrl = (options.baseUrl ?? DEFAULT_API_URL).replace(/\/+$/, '');
    this.functionKey = options.functionKey;
    this.dispatcher = options.dispatcher;
    this.timeoutInMs = options.timeoutInMs ?? DEFAULT_TIMEOUT_IN_MS;
  }

  /** The job, or undefined if the API has no job with this id (yet). */
  async getJob(jobId: string, options: CallOptions = {}): Promise<BatchObject | undefined> {
    const response = await this.send(`/jobs/${encodeURIComponent(jobId)}`, options);
    if (response.statusCode === 200) return (await readJson(response, this.urlOf(`/jobs/${jobId}`))) as BatchObject;
    const error = await toApiError(response, this.urlOf(`/jobs/${jobId}`));
    if (error.status === 404 && error.code !== ApiErrorCode.routeNotFound) return undefined;
    throw error;
  }

  /** One page of jobs, newest first. */
  async listJobs(options: ListJobsOptions = {}): Promise<JobPage> {
    const query = new URLSearchParams();
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.after !== undefined) query.set('after', options.after);
    if (options.status !== undefined) query.set('status', options.status);
    for (const [key, value] of Object.entries(options.metadata ?? {})) query.set(`metadata[${key}]`, value);
    const path = query.size === 0 ? '/jobs' : `/jobs?${query.toString()}`;
    const response = await this.send(path, options);
    if (response.statusCode !== 200) throw await toApiError(response, this.urlOf(path));
    return (await readJson(response, this.urlOf(path))) as JobPage;
  }

  /** Cancels the job: lines not yet sent end as batch_cancelled, finished ones are kept. */
  async cancelJob(jobId: string, options: CallOptions = {}): Promise<BatchObject> {
    const path = `/jobs/${encodeURIComponent(jobId)}/cancel`;
    const response = await this.send(path, options, 'POST');
    if (response.statusCode !== 200) throw await toApiError(response, this.urlOf(path));
    return (await readJson(response, this.urlOf(path))) as BatchObject;
  }

  /** Gives a running job a new priority: `high`, `normal`, `low` or a weight from 1 to 100. */
  async setPriority(jobId: string, priority: string, options: CallOptions = {}): Promise<BatchObject> {
    const path = `/jobs/${encodeURIComponent(jobId)}`;
    const response = await this.send(path, options, 'PATCH', { priority });
    if (response.statusCode !== 200) throw await toApiError(response, this.urlOf(path));
    return (await readJson(response, this.urlOf(path))) as BatchObject;
  }

  /** Deletes a finished job's outcomes and files; the job stays as a tombstone with its costs. */
  async deleteJob(jobId: string, options: CallOptions = {}): Promise<BatchObject> {
    const path = `/jobs/${encodeURIComponent(jobId)}`;
    const response = await this.send(path, options, 'DELETE');
    if (response.statusCode !== 200) throw await toApiError(response, this.urlOf(path));
    return (await readJson(response, this.urlOf(path))) as BatchObject;
  }

  /** Sends a finished job's failed lines again (only those a retry can fix, with `retryableOnly`). */
  async retryJob(jobId: string, options: CallOptions & { retryableOnly?: boolean } = {}): Promise<RetryResult> {
    const path = `/jobs/${encodeURIComponent(jobId)}/retry${options.retryableOnly === true ? '?retryable_only=true' : ''}`;
    const response = await this.send(path, options, 'POST');
    if (response.statusCode !== 200) throw await toApiError(response, this.urlOf(path));
    return (await readJson(response, this.urlOf(path))) as RetryResult;
  }

  /** Starts the download of a job's output lines (OpenAI Batch JSONL). */
  async getResults(jobId: string, options: GetResultsOptions = {}): Promise<ResultsResponse> {
    const path = `/jobs/${encodeURIComponent(jobId)}/results?kind=${options.kind ?? 'results'}`;
    const response = await this.send(path, options);
    if (response.statusCode !== 200) throw await toApiError(response, this.urlOf(path));
    const status = response.headers['x-job-status'];
    return { jobStatus: typeof status === 'string' ? status : undefined, body: response.body };
  }

  /** A job's output lines, one JSON document per item, without the line break. */
  async *streamResults(jobId: string, kind: ResultKind = 'results', options: CallOptions = {}): AsyncIterable<string> {
    const { body } = await this.getResults(jobId, { ...options, kind });
    yield* splitLines(body);
  }

  private urlOf(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  private async send(
    path: string,
    options: CallOptions,
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE' = 'GET',
    body?: unknown,
  ): Promise<Dispatcher.ResponseData> {
    const url = this.urlOf(path);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.functionKey !== undefined) headers['x-functions-key'] = this.functionKey;
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await request(url, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        headersTimeout: this.timeoutInMs,
        ...(options.abortSignal === undefined ? {} : { signal: options.abortSignal }),
        ...(this.dispatcher === undefined ? {} : { dispatcher: this.dispatcher }),
      });
    } catch (thrown) {
      if (options.abortSignal?.aborted === true) throw thrown;
      const detail =
        thrown instanceof Error ? ((thrown as Error & { code?: string }).code ?? thrown.message) : String(thrown);
      throw new ApiError(undefined, ApiErrorCode.unreachable, `Cannot reach the API at ${this.baseUrl} (${detail})`, {
        cause: thrown,
      });
    }
  }
}

async function readJson(response: Dispatcher.ResponseData, url: string): Promise<unknown> {
  const text = await response.body.text();
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new ApiError(
      response.statusCode,
      ApiErrorCode.invalidResponse,
      `GET ${url} answered ${response.statusCode} with a body that is not JSON`,
      { cause },
    );
  }
}

/** Reads an error response: the API's `{error: {code, message, param}}`, or whatever the host sent. */
async function toApiError(response: Dispatcher.ResponseData, url: string): Promise<ApiError> {
  return apiErrorOf(response.statusCode, await response.body.text(), url);
}

/** The API's error for a non-2xx answer: its own `{ error }` body when it sent one, else what the status means. */
export function apiErrorOf(status: number, text: string, url: string): ApiError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const error = (parsed as { error?: { code?: unknown; message?: unknown; param?: unknown } } | undefined)?.error;
  if (error !== undefined && typeof error.code === 'string' && typeof error.message === 'string') {
    return new ApiError(status, error.code, error.message, {
      param: typeof error.param === 'string' ? error.param : null,
    });
  }
  if (status === 401 || status === 403) {
    return new ApiError(
      status,
      ApiErrorCode.unauthorized,
      `GET ${url} was refused (${status}): the function key is missing or wrong`,
    );
  }
  if (status === 404)
    return new ApiError(
      status,
      ApiErrorCode.routeNotFound,
      `GET ${url} found no such route (404): is the API URL right?`,
    );
  const snippet = text.trim().slice(0, 200);
  return new ApiError(
    status,
    `http_${status}`,
    `GET ${url} failed with ${status}${snippet === '' ? '' : `: ${snippet}`}`,
  );
}

/** Splits a byte stream into lines, decoding UTF-8 across chunk boundaries; blank lines are skipped. */
export async function* splitLines(chunks: AsyncIterable<Buffer | string>): AsyncIterable<string> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  for await (const chunk of chunks) {
    pending += typeof chunk === 'string' ? chunk : decoder.write(chunk);
    let start = 0;
    for (let end = pending.indexOf('\n', start); end !== -1; end = pending.indexOf('\n', start)) {
      const line = pending.slice(start, pending[end - 1] === '\r' ? end - 1 : end);
      start = end + 1;
      if (line !== '') yield line;
    }
    pending = pending.slice(start);
  }
  pending += decoder.end();
  if (pending.trim() !== '') yield pending.replace(/\r$/, '');
}
