import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
// Default import: Node's ESM loader cannot see the classes among this CommonJS bundle's named exports.
import azureFunctions from '@azure/functions';
import type { Cookie } from '@azure/functions';
import { ensureError } from './errors.js';
import type { InvocationEvent } from './events.js';
import type { Invoker } from './Invoker.js';
import type { LocalFunction } from './localFunction.js';
import { LogLevel, type LocalHostLogger } from './logger.js';
import type { TaskTracker } from './polling.js';
import { compareRoutePrecedence, compileRouteTemplate, type CompiledRoute } from './routeTemplate.js';

export const AuthLevel = { anonymous: 'anonymous', function: 'function', admin: 'admin' } as const;
export type AuthLevel = (typeof AuthLevel)[keyof typeof AuthLevel];

interface HttpRoute {
  readonly fn: LocalFunction;
  readonly route: CompiledRoute;
  readonly methods: ReadonlySet<string>;
  readonly authLevel: AuthLevel;
}

/** Runs a non-HTTP function on `POST /admin/functions/{name}`, like the real host's admin API. */
export type AdminInvokeHandler = (functionName: string, input: unknown) => Promise<'accepted' | 'notFound'>;

export interface HttpListenerOptions {
  readonly functions: readonly LocalFunction[];
  readonly routePrefix: string;
  readonly host: string;
  readonly port: number;
  readonly functionKey: string | undefined;
  readonly invoker: Invoker;
  readonly logger: LocalHostLogger;
  readonly emit: (event: InvocationEvent) => void;
  readonly adminInvoke: AdminInvokeHandler;
  /** Bigger request bodies get 413. The real host's limit is 100 MB. */
  readonly maxRequestBodyInBytes: number;
  /** Request handling (invocation and response writing) is tracked so a graceful stop can wait for it. */
  readonly tracker: TaskTracker;
  /**
   * The app enabled HTTP streaming (`app.setup({ enableHttpStream: true })`). As on the real worker: only then
   * does a handler get the request body as a stream and is its response body streamed to the client; otherwise
   * the request is read whole before the call and the response body is read whole before anything is sent.
   */
  readonly httpStream: boolean;
}

const functionKeyHeader = 'x-functions-key';

/** One node:http server routing to every captured httpTrigger. */
export class HttpListener {
  readonly #options: HttpListenerOptions;
  readonly #routes: HttpRoute[];
  readonly #server: Server;
  #url: string | undefined;

  constructor(options: HttpListenerOptions) {
    this.#options = options;
    this.#routes = options.functions
      .map((fn): HttpRoute => {
        const binding = fn.trigger.binding;
        const template = typeof binding.route === 'string' && binding.route !== '' ? binding.route : fn.name;
        const methods = Array.isArray(binding.methods)
          ? binding.methods.map((m) => String(m).toUpperCase())
          : ['GET', 'POST'];
        const authLevel = (
          typeof binding.authLevel === 'string' ? binding.authLevel : AuthLevel.anonymous
        ).toLowerCase() as AuthLevel;
        return { fn, route: compileRouteTemplate(template), methods: new Set(methods), authLevel };
      })
      .sort((a, b) => compareRoutePrecedence(a.route, b.route));
    this.#server = createServer((req, res) => {
      const handling = this.#handle(req, res).catch((error: unknown) => {
        this.#options.logger.log({
          level: LogLevel.error,
          category: 'host',
          error: ensureError(error),
          message: `Unhandled error serving ${req.method ?? ''} ${req.url ?? ''}.`,
        });
        if (!res.headersSent) {
          writeJson(res, 500, { error: { code: 'InternalServerError', message: 'An internal error occurred.' } });
        } else {
          res.destroy();
        }
      });
      void options.tracker.track(handling);
    });
  }

  /** Base URL, e.g. `http://127.0.0.1:7071`. */
  get url(): string {
    if (this.#url === undefined) {
      throw new Error('The HTTP listener has not started.');
    }
    return this.#url;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.#server.once('error', onError);
      this.#server.listen(this.#options.port, this.#options.host, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
    const address = this.#server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.#url = `http://${host}:${address.port}`;
  }

  /** Stops accepting connections and closes idle keep-alive ones; requests in progress continue. */
  stopAccepting(): Promise<void> {
    if (!this.#server.listening) {
      return Promise.resolve();
    }
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    return closed;
  }

  /** Ends every connection now, in-flight or not. */
  closeAllConnections(): void {
    this.#server.closeAllConnections();
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const base = `http://${req.headers.host ?? this.url.slice('http://'.length)}`;
    const url = new URL(req.url ?? '/', base);
    const path = url.pathname;

    const adminMatch = /^\/admin\/functions\/([^/]+)\/?$/i.exec(path);
    if (adminMatch) {
      await this.#handleAdmin(req, res, method, url, decodeURIComponent(adminMatch[1] ?? ''));
      return;
    }

    const routePath = this.#stripPrefix(path);
    const matches =
      routePath === undefined
        ? []
        : this.#routes.flatMap((route) => {
            const params = route.route.match(routePath);
            return params ? [{ route, params }] : [];
          });
    if (matches.length === 0) {
      writeJson(res, 404, { error: { code: 'NotFound', message: `No function matches ${method} ${path}.` } });
      return;
    }
    const chosen = matches.find(
      (m) => m.route.methods.has(method) || (method === 'HEAD' && m.route.methods.has('GET')),
    );
    if (!chosen) {
      const allowed = [...new Set(matches.flatMap((m) => [...m.route.methods]))].sort();
      res.setHeader('allow', allowed.join(', '));
      writeJson(res, 405, { error: { code: 'MethodNotAllowed', message: `${method} is not allowed on ${path}.` } });
      return;
    }
    if (chosen.route.authLevel !== AuthLevel.anonymous && !this.#isAuthorized(req, url)) {
      res.writeHead(401).end();
      return;
    }

    const { fn } = chosen.route;
    let request: InstanceType<typeof azureFunctions.HttpRequest>;
    try {
      request = this.#options.httpStream
        ? streamedRequest(req, url, method, chosen.params, this.#options.maxRequestBodyInBytes)
        : await bufferedRequest(req, url, method, chosen.params, this.#options.maxRequestBodyInBytes);
    } catch (error) {
      if (error instanceof RequestTooLargeError) {
        writeJson(res, 413, { error: { code: 'RequestEntityTooLarge', message: error.message } });
        return;
      }
      throw error;
    }
    const result = await this.#options.invoker.invoke(fn, { input: request, reason: `HTTP ${method} ${path}` });
    let status = 500;
    let writeError: Error | undefined;
    if (result.error) {
      writeJson(res, 500, {
        error: {
          code: 'InternalServerError',
          message: 'An internal error occurred.',
          invocationId: result.invocationId,
        },
      });
    } else {
      try {
        status = await writeHandlerResponse(res, result.result, method === 'HEAD', this.#options.httpStream);
      } catch (error) {
        writeError = ensureError(error);
        this.#options.logger.log({
          level: LogLevel.error,
          category: 'host',
          functionName: fn.name,
          invocationId: result.invocationId,
          error: writeError,
          message: `Function "${fn.name}" returned a response that could not be written.`,
        });
        if (!res.headersSent) {
          writeJson(res, 500, {
            error: {
              code: 'InternalServerError',
              message: 'An internal error occurred.',
              invocationId: result.invocationId,
            },
          });
        } else {
          res.destroy();
        }
      }
    }
    this.#options.emit({
      functionName: fn.name,
      invocationId: result.invocationId,
      outcome: writeError ? 'failed' : result.outcome,
      startedAt: result.startedAt,
      durationInMs: result.durationInMs,
      error: result.error ?? writeError,
      trigger: { type: 'http', method, path, status: writeError ? 500 : status },
    });
  }

  async #handleAdmin(req: IncomingMessage, res: ServerResponse, method: string, url: URL, name: string): Promise<void> {
    if (method !== 'POST') {
      res.setHeader('allow', 'POST');
      writeJson(res, 405, { error: { code: 'MethodNotAllowed', message: 'Use POST.' } });
      return;
    }
    if (!this.#isAuthorized(req, url)) {
      res.writeHead(401).end();
      return;
    }
    let text: string;
    try {
      text = (await readBody(req, this.#options.maxRequestBodyInBytes)).toString('utf8');
    } catch (error) {
      if (error instanceof RequestTooLargeError) {
        writeJson(res, 413, { error: { code: 'RequestEntityTooLarge', message: error.message } });
        return;
      }
      throw error;
    }
    let input: unknown;
    if (text.trim() !== '') {
      try {
        input = (JSON.parse(text) as { input?: unknown }).input;
      } catch {
        writeJson(res, 400, { error: { code: 'BadRequest', message: 'The body must be JSON like {"input": "..."}.' } });
        return;
      }
    }
    const outcome = await this.#options.adminInvoke(name, input);
    if (outcome === 'notFound') {
      writeJson(res, 404, { error: { code: 'NotFound', message: `No non-HTTP function named "${name}".` } });
      return;
    }
    res.writeHead(202).end();
  }

  #stripPrefix(path: string): string | undefined {
    const prefix = this.#options.routePrefix;
    if (prefix === '') {
      return path;
    }
    const lowerPath = path.toLowerCase();
    const lowerPrefix = `/${prefix.toLowerCase()}`;
    if (lowerPath === lowerPrefix || lowerPath === `${lowerPrefix}/`) {
      return '';
    }
    return lowerPath.startsWith(`${lowerPrefix}/`) ? path.slice(lowerPrefix.length + 1) : undefined;
  }

  #isAuthorized(req: IncomingMessage, url: URL): boolean {
    const key = this.#options.functionKey;
    if (key === undefined) {
      return true;
    }
    const header = req.headers[functionKeyHeader];
    const presented = typeof header === 'string' ? header : url.searchParams.get('code');
    return presented === key;
  }
}

class RequestTooLargeError extends Error {
  override readonly name = 'RequestTooLargeError';
  readonly code = 'RequestTooLarge';
}

type LocalHttpRequest = InstanceType<typeof azureFunctions.HttpRequest>;

/** Without HTTP streaming the worker gets the request from the host whole: read it all before the call. */
async function bufferedRequest(
  req: IncomingMessage,
  url: URL,
  method: string,
  params: Record<string, string>,
  limitInBytes: number,
): Promise<LocalHttpRequest> {
  const body = await readBody(req, limitInBytes);
  return new azureFunctions.HttpRequest({
    method,
    url: url.href,
    headers: toHeaderRecord(req),
    params,
    body: method === 'GET' || method === 'HEAD' ? undefined : { bytes: body },
  });
}

/**
 * With HTTP streaming the worker builds the request around the proxied connection itself, body unread, as the
 * library's `createStreamRequest` does (its `nativeRequest` init, which the public type does not list).
 */
function streamedRequest(
  req: IncomingMessage,
  url: URL,
  method: string,
  params: Record<string, string>,
  limitInBytes: number,
): LocalHttpRequest {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitInBytes) {
    req.resume();
    throw new RequestTooLargeError(`The request body exceeds ${limitInBytes} bytes.`);
  }
  const hasBody = method !== 'GET' && method !== 'HEAD';
  const nativeRequest = new Request(url.href, {
    method,
    headers: toHeaderRecord(req),
    ...(hasBody ? { body: Readable.toWeb(req) as ReadableStream<Uint8Array>, duplex: 'half' } : {}),
  });
  const init = { nativeRequest, params } as unknown as ConstructorParameters<typeof azureFunctions.HttpRequest>[0];
  return new azureFunctions.HttpRequest(init);
}

/** Reads the whole body; past the limit it keeps draining (so a 413 can still be sent) and then rejects. */
function readBody(req: IncomingMessage, limitInBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let tooLarge = Number.isFinite(declared) && declared > limitInBytes;
    req.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length > limitInBytes) {
        tooLarge = true;
        chunks.length = 0;
      }
      if (!tooLarge) {
        chunks.push(chunk);
      }
    });
    req.once('error', reject);
    req.once('end', () => {
      if (tooLarge) {
        reject(new RequestTooLargeError(`The request body exceeds ${limitInBytes} bytes.`));
      } else {
        resolve(Buffer.concat(chunks));
      }
    });
  });
}

function toHeaderRecord(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headersDistinct)) {
    if (value !== undefined) {
      headers[name] = value.join(', ');
    }
  }
  return headers;
}

function writeJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

interface ResponseLike {
  readonly status: number;
  readonly headers: Headers;
  readonly body: WebReadableStream<Uint8Array> | ReadableStream<Uint8Array> | null;
  readonly cookies?: readonly Cookie[];
  arrayBuffer(): Promise<ArrayBuffer>;
}

function isResponseLike(value: unknown): value is ResponseLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { headers?: unknown }).headers instanceof Headers &&
    typeof (value as { status?: unknown }).status === 'number' &&
    typeof (value as { arrayBuffer?: unknown }).arrayBuffer === 'function'
  );
}

/**
 * Writes `HttpResponseInit | HttpResponse` the way the worker converts it; returns the status written.
 * Without `stream`, the body is read to the end first and sent with its length, as the worker hands the host a
 * finished response: a handler that returns a stream still waits for all of it, memory and time.
 */
async function writeHandlerResponse(
  res: ServerResponse,
  value: unknown,
  isHead: boolean,
  stream: boolean,
): Promise<number> {
  if (value === undefined || value === null) {
    res.writeHead(204).end();
    return 204;
  }
  if (typeof value !== 'object') {
    throw new TypeError(
      'The HTTP response must be an object with optional properties "body", "status", "headers", and "cookies".',
    );
  }
  const response: ResponseLike = isResponseLike(value) ? value : new azureFunctions.HttpResponse(value);
  for (const [name, headerValue] of response.headers) {
    if (name !== 'set-cookie') {
      res.setHeader(name, headerValue);
    }
  }
  const setCookies = [...response.headers.getSetCookie(), ...(response.cookies ?? []).map(serializeCookie)];
  if (setCookies.length > 0) {
    res.setHeader('set-cookie', setCookies);
  }
  if (!stream) {
    const body = response.body ? Buffer.from(await response.arrayBuffer()) : undefined;
    res.statusCode = response.status;
    if (body === undefined || isHead) {
      res.end();
    } else {
      res.setHeader('content-length', body.length);
      res.end(body);
    }
    return response.status;
  }
  res.statusCode = response.status;
  if (!response.body || isHead) {
    res.end();
    return response.status;
  }
  await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), res);
  return response.status;
}

function serializeCookie(cookie: Cookie): string {
  const parts = [`${cookie.name}=${cookie.value}`];
  if (cookie.domain) parts.push(`Domain=${cookie.domain}`);
  if (cookie.path) parts.push(`Path=${cookie.path}`);
  if (cookie.expires !== undefined) {
    const expires = typeof cookie.expires === 'number' ? new Date(cookie.expires) : cookie.expires;
    parts.push(`Expires=${expires.toUTCString()}`);
  }
  if (cookie.maxAge !== undefined) parts.push(`Max-Age=${cookie.maxAge}`);
  if (cookie.secure) parts.push('Secure');
  if (cookie.httpOnly) parts.push('HttpOnly');
  if (cookie.sameSite) parts.push(`SameSite=${cookie.sameSite}`);
  return parts.join('; ');
}
