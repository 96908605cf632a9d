import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BatchObject } from '../../src/core/batchObject.js';
import { isValidJobId } from '../../src/core/jobId.js';

export interface FakeJobsApiOptions {
  /** When set, requests without this `x-functions-key` get a bare 401, as from the Functions host. */
  readonly functionKey?: string;
}

export interface FakeResults {
  readonly status: string;
  /** Output lines, as objects; `response.status_code === 200` marks a success. */
  readonly lines: readonly object[];
}

/** A node:http stand-in for the jobs API, speaking its routes, JSON shapes and error bodies. */
export class FakeJobsApi {
  /** Each GET of a job takes the next state; the last one stays. `undefined`: not created yet (404). */
  readonly jobs = new Map<string, (BatchObject | undefined)[]>();
  /** Newest first, as the API lists them. */
  listed: BatchObject[] = [];
  readonly results = new Map<string, FakeResults>();
  readonly requests: { method: string; url: string; headers: IncomingHttpHeaders; body?: string }[] = [];
  /** States for the first job asked about that is not in `jobs` (an id only known after an upload). */
  nextJob: (BatchObject | undefined)[] | undefined;
  private readonly server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      this.requests.push({
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        ...(body === '' ? {} : { body }),
      });
      this.handle(request.method ?? 'GET', new URL(request.url ?? '/', 'http://fake'), request.headers, response, body);
    });
  });

  private constructor(private readonly options: FakeJobsApiOptions) {}

  static async start(options: FakeJobsApiOptions = {}): Promise<FakeJobsApi> {
    const api = new FakeJobsApi(options);
    await new Promise<void>((resolve) => api.server.listen(0, '127.0.0.1', resolve));
    return api;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api`;
  }

  setJob(...states: BatchObject[]): void {
    this.jobs.set(states[0]!.id, [...states]);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve, reject) => this.server.close((error) => (error ? reject(error) : resolve())));
  }

  private handle(method: string, url: URL, headers: IncomingHttpHeaders, response: ServerResponse, body: string): void {
    if (this.options.functionKey !== undefined && headers['x-functions-key'] !== this.options.functionKey) {
      response.writeHead(401).end();
      return;
    }
    const patched = /^\/api\/jobs\/([^/]+)$/.exec(url.pathname);
    if (method === 'PATCH' && patched !== null) {
      this.patch(decodeURIComponent(patched[1]!), body, response);
      return;
    }
    const action = /^\/api\/jobs\/([^/]+)\/(cancel|retry)$/.exec(url.pathname);
    if (method === 'POST' && action !== null) {
      const state = this.jobs.get(decodeURIComponent(action[1]!))?.at(-1);
      if (state === undefined) {
        sendError(response, 404, 'not_found', `No job ${action[1]!}`);
      } else if (action[2] === 'cancel') {
        sendJson(response, 200, { ...state, status: 'cancelling' });
      } else {
        sendJson(response, 200, {
          retried_lines: url.searchParams.get('retryable_only') === 'true' ? 1 : 2,
          job: { ...state, status: 'in_progress' },
        });
      }
      return;
    }
    const match = /^\/api\/jobs(?:\/([^/]+)(\/results)?)?$/.exec(url.pathname);
    if (method !== 'GET' || match === null) {
      response.writeHead(404).end();
      return;
    }
    const [, rawId, results] = match;
    if (rawId === undefined) {
      this.list(url, response);
      return;
    }
    const id = decodeURIComponent(rawId);
    if (!isValidJobId(id)) {
      sendError(response, 400, 'bad_request', 'jobId must look like job_ followed by 32 hex digits', 'jobId');
      return;
    }
    if (results !== undefined) {
      this.sendResults(id, url.searchParams.get('kind') ?? 'results', response);
      return;
    }
    if (!this.jobs.has(id) && this.nextJob !== undefined) {
      this.jobs.set(
        id,
        this.nextJob.map((state) => (state === undefined ? undefined : { ...state, id })),
      );
      this.nextJob = undefined;
    }
    const states = this.jobs.get(id) ?? [undefined];
    const state = states.length > 1 ? states.shift() : states[0];
    if (state === undefined) {
      sendError(response, 404, 'not_found', `No job ${id}`);
      return;
    }
    sendJson(response, 200, state);
  }

  /** The priority change: the real API's answers for an unknown or finished job. */
  private patch(id: string, body: string, response: ServerResponse): void {
    const state = this.jobs.get(id)?.at(-1);
    if (state === undefined) {
      sendError(response, 404, 'not_found', `No job ${id}`);
    } else if (!['validating', 'in_progress'].includes(state.status)) {
      sendError(response, 409, 'conflict', `Job ${id} is ${state.status}: its priority can change only while it runs`);
    } else {
      const { priority } = JSON.parse(body) as { priority: string };
      sendJson(response, 200, { ...state, priority: /^\d+$/.test(priority) ? Number(priority) : priority });
    }
  }

  private list(url: URL, response: ServerResponse): void {
    const limitText = url.searchParams.get('limit');
    const limit = limitText === null ? 20 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      sendError(response, 400, 'bad_request', 'limit must be an integer from 1 to 100', 'limit');
      return;
    }
    const after = url.searchParams.get('after');
    const offset = after === null ? 0 : Number(Buffer.from(after, 'base64url').toString('utf8'));
    const data = this.listed.slice(offset, offset + limit);
    const hasMore = offset + limit < this.listed.length;
    sendJson(response, 200, {
      object: 'list',
      data,
      has_more: hasMore,
      next_page: hasMore ? Buffer.from(String(offset + limit)).toString('base64url') : null,
    });
  }

  private sendResults(id: string, kind: string, response: ServerResponse): void {
    if (!['results', 'errors', 'all'].includes(kind)) {
      sendError(response, 400, 'bad_request', 'kind must be one of results, errors, all', 'kind');
      return;
    }
    const results = this.results.get(id);
    if (results === undefined) {
      sendError(response, 404, 'not_found', `No job ${id}`);
      return;
    }
    const succeeded = (line: object): boolean =>
      (line as { response?: { status_code?: number } | null }).response?.status_code === 200;
    const lines = results.lines.filter((line) => kind === 'all' || (kind === 'results') === succeeded(line));
    response.writeHead(200, { 'content-type': 'application/jsonl; charset=utf-8', 'x-job-status': results.status });
    // One write per line: the client must join lines across chunks.
    for (const line of lines) response.write(`${JSON.stringify(line)}\n`);
    response.end();
  }
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function sendError(response: ServerResponse, status: number, code: string, message: string, param?: string): void {
  sendJson(response, status, { error: { code, message, param: param ?? null } });
}

/** An OpenAI Batch output line. */
export function outputLine(customId: string, ok: boolean): object {
  return ok
    ? {
        id: `batch_req_${customId}`,
        custom_id: customId,
        response: {
          status_code: 200,
          request_id: `req-${customId}`,
          body: { object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'hé ✓' } }] },
        },
        error: null,
      }
    : {
        id: `batch_req_${customId}`,
        custom_id: customId,
        response: null,
        error: { code: 'invalid_json_line', message: 'Line is not JSON' },
      };
}
