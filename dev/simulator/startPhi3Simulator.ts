import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TokenCounter } from '../../src/core/chat.js';
import { createTokenCounter } from '../../src/adapters/tokenizer/index.js';
import * as errors from './errorBodies.js';
import type { ErrorResponse } from './errorBodies.js';
import { FaultKind, FaultPlanner, type FaultDecision } from './FaultPlanner.js';
import { generationTimeInMs, LatencyModel, streamSteps, type GenerationTiming } from './LatencyModel.js';
import {
  DEFAULT_FAULT_SETTINGS,
  DEFAULT_LATENCY_SETTINGS,
  DEFAULT_LIMIT_SETTINGS,
  parseFaultSettings,
  parseLatencySettings,
  parseLimitSettings,
  SimulatorSettingsError,
  type FaultSettings,
  type LatencySettings,
  type LimitSettings,
} from './settings.js';
import {
  hashMessages,
  promptContains,
  PROMPT_CONTENT_FILTER_MARKER,
  simulatedCompletion,
} from './simulatedCompletion.js';
import { SimulatorLog, SimulatorOutcome, type SimulatorLogEntry } from './SimulatorLog.js';
import { SlidingWindowRateLimiter, type RateLimitSnapshot } from './SlidingWindowRateLimiter.js';
import { checkContextLength, contextLengthForModel, validateChatRequest } from './validateChatRequest.js';

/** A placeholder with the length of a real key; not a secret. */
export const DEFAULT_SIMULATOR_API_KEY = 'phi3-simulator-placeholder-key-0';
export const DEFAULT_SIMULATOR_MODEL = 'Phi-3-mini-4k-instruct';
/** Header whose value the log keeps, so tests can match requests to input lines. */
export const CUSTOM_ID_HEADER = 'x-phi3batch-custom-id';
export const DAILY_QUOTA_RETRY_AFTER_IN_MS = 86_400_000;

const CHAT_PATHS: ReadonlySet<string> = new Set([
  '/chat/completions',
  '/v1/chat/completions',
  '/models/chat/completions',
]);
const INFO_PATHS: ReadonlySet<string> = new Set(['/info', '/models/info']);
const ADMIN_PREFIX = '/_simulator/';

export interface StartPhi3SimulatorOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0 (any free port). */
  readonly port?: number;
  /** The key clients must send; default {@link DEFAULT_SIMULATOR_API_KEY}. */
  readonly apiKey?: string;
  /** Decides the tokenizer and the context length; default {@link DEFAULT_SIMULATOR_MODEL}. */
  readonly model?: string;
  readonly limits?: Partial<LimitSettings>;
  readonly latency?: Partial<LatencySettings>;
  readonly faults?: Partial<FaultSettings>;
  /** Time source for the limiter, the log and `created`; default `Date.now`. */
  readonly clock?: () => number;
  /** Default: the tokenizer adapter for `model`. */
  readonly tokenCounter?: TokenCounter;
  /** Default 16 MiB. */
  readonly maxBodyBytes?: number;
}

export interface Phi3Simulator {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:54321`. */
  readonly url: string;
  readonly apiKey: string;
  readonly model: string;
  readonly log: SimulatorLog;
  /** Admitted chat calls not yet answered (or dropped): the calls under way at the endpoint. */
  readonly inFlight: number;
  /** The most calls that were under way at once since the start. */
  readonly peakInFlight: number;
  setFaults(faults: Partial<FaultSettings>): void;
  setLimits(limits: Partial<LimitSettings>): void;
  setLatency(latency: Partial<LatencySettings>): void;
  /** Stops listening, drops every open connection (held and delayed requests included) and clears timers. */
  close(): Promise<void>;
}

/** A local stand-in for an Azure AI serverless Phi-3 deployment (Azure AI Model Inference API). */
export async function startPhi3Simulator(options: StartPhi3SimulatorOptions = {}): Promise<Phi3Simulator> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new SimulatorSettingsError('port', 'an integer from 0 to 65535');
  }
  const apiKey = options.apiKey ?? DEFAULT_SIMULATOR_API_KEY;
  if (typeof apiKey !== 'string' || apiKey.length === 0) {
    throw new SimulatorSettingsError('apiKey', 'a non-empty string');
  }
  const model = options.model ?? DEFAULT_SIMULATOR_MODEL;
  if (typeof model !== 'string' || model.trim().length === 0) {
    throw new SimulatorSettingsError('model', 'a non-empty string');
  }
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024 * 1024;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 1) {
    throw new SimulatorSettingsError('maxBodyBytes', 'an integer from 1 and up');
  }
  const clock = options.clock ?? Date.now;
  const tokenCounter = options.tokenCounter ?? createTokenCounter(model);
  const contextLength = contextLengthForModel(model);
  const apiKeyBytes = Buffer.from(apiKey, 'utf8');

  const latency = new LatencyModel({ ...DEFAULT_LATENCY_SETTINGS, ...parseLatencySettings(options.latency ?? {}) });
  const limiter = new SlidingWindowRateLimiter({
    ...DEFAULT_LIMIT_SETTINGS,
    ...parseLimitSettings(options.limits ?? {}),
  });
  const faults = new FaultPlanner({ ...DEFAULT_FAULT_SETTINGS, ...parseFaultSettings(options.faults ?? {}) });
  const log = new SimulatorLog();
  const pendingTimers = new Set<NodeJS.Timeout>();
  let inFlight = 0;
  let peakInFlight = 0;

  /** Counts an admitted call as under way until its response is over (answered, dropped or abandoned). */
  function trackInFlight(res: ServerResponse): void {
    inFlight += 1;
    peakInFlight = Math.max(peakInFlight, inFlight);
    res.once('close', () => {
      inFlight -= 1;
    });
  }

  // Settings changed at run time go through the same checks as the start-up options.
  const setFaults = (changes: unknown): void => faults.update(parseFaultSettings(changes));
  const setLimits = (changes: unknown): void => {
    limiter.settings = { ...limiter.settings, ...parseLimitSettings(changes) };
  };
  const setLatency = (changes: unknown): void => {
    latency.update(parseLatencySettings(changes));
  };

  function isAuthorized(req: IncomingMessage): boolean {
    const authorization = req.headers.authorization;
    const bearer = authorization?.match(/^Bearer\s+(.+)$/i)?.[1]?.trim();
    const headerKey = req.headers['api-key'];
    const candidate = bearer ?? (typeof headerKey === 'string' ? headerKey.trim() : undefined);
    if (candidate === undefined) {
      return false;
    }
    const candidateBytes = Buffer.from(candidate, 'utf8');
    return candidateBytes.length === apiKeyBytes.length && timingSafeEqual(candidateBytes, apiKeyBytes);
  }

  function rateLimitHeaders(snapshot: RateLimitSnapshot, fault: FaultDecision | null): Record<string, string> {
    const { requestsPerMinute, tokensPerMinute } = limiter.settings;
    return {
      'x-ratelimit-limit-requests': String(requestsPerMinute),
      'x-ratelimit-limit-tokens': String(tokensPerMinute),
      'x-ratelimit-remaining-requests': String(Math.max(0, snapshot.remainingRequests)),
      'x-ratelimit-remaining-tokens': String(fault?.negativeRemainingTokens ?? snapshot.remainingTokens),
    };
  }

  /** Runs `action` after `delayInMs` unless the client leaves or the simulator closes first. */
  function later(res: ServerResponse, delayInMs: number, action: () => void): void {
    if (delayInMs <= 0) {
      action();
      return;
    }
    const onClose = (): void => {
      clearTimeout(timer);
      pendingTimers.delete(timer);
    };
    const timer = setTimeout(() => {
      pendingTimers.delete(timer);
      // A streamed answer schedules one step per chunk: listeners must not pile up on the response.
      res.off('close', onClose);
      action();
    }, delayInMs);
    pendingTimers.add(timer);
    res.once('close', onClose);
  }

  /**
   * Server-sent events as Azure AI inference sends them: a first chunk with the role when the first
   * token is ready, chunks with the answer's words paced as {@link streamSteps} says, a chunk with the
   * finish reason, a chunk with the usage when `stream_options.include_usage` is set, then `[DONE]`.
   */
  function streamCompletion(
    res: ServerResponse,
    completion: {
      readonly id: string;
      readonly created: number;
      readonly content: string;
      readonly finishReason: string;
    },
    usage: { readonly prompt_tokens: number; readonly completion_tokens: number; readonly total_tokens: number },
    includeUsage: boolean,
    timing: GenerationTiming,
    headers: Record<string, string>,
  ): void {
    const steps = streamSteps(completion.content, usage.completion_tokens, timing);
    const chunk = (choices: unknown[], withUsage: boolean): string =>
      `data: ${JSON.stringify({
        id: completion.id,
        object: 'chat.completion.chunk',
        created: completion.created,
        model,
        choices,
        ...(includeUsage ? { usage: withUsage ? usage : null } : {}),
      })}\n\n`;
    const write = (text: string): boolean => {
      if (res.destroyed || res.writableEnded) return false;
      res.write(text);
      return true;
    };
    const send = (i: number): void => {
      const step = steps[i];
      if (step === undefined) {
        if (!write(chunk([{ index: 0, delta: {}, finish_reason: completion.finishReason }], false))) return;
        if (includeUsage && !write(chunk([], true))) return;
        write('data: [DONE]\n\n');
        res.end();
        return;
      }
      if (i === 0) {
        if (res.destroyed) return;
        res.writeHead(200, {
          ...headers,
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache',
        });
        if (!write(chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }], false)))
          return;
      } else if (
        step.content !== '' &&
        !write(chunk([{ index: 0, delta: { content: step.content }, finish_reason: null }], false))
      ) {
        return;
      }
      const next = steps[i + 1];
      later(res, next?.delayInMs ?? 0, () => send(i + 1));
    };
    later(res, steps[0]?.delayInMs ?? 0, () => send(0));
  }

  async function handleChat(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const atInMs = clock();
    const customId = req.headers[CUSTOM_ID_HEADER];
    const clientRequestId = req.headers['x-ms-client-request-id'];
    const base = {
      atInMs,
      requestId,
      ...(typeof clientRequestId === 'string' ? { clientRequestId } : {}),
      ...(typeof customId === 'string' ? { customIdHeader: customId } : {}),
    };
    const blank = {
      promptTokens: null,
      maxTokens: null,
      admittedTokens: 0,
      completionTokens: 0,
      requestHash: null,
    };
    const reject = (
      response: ErrorResponse,
      outcome: SimulatorLogEntry['outcome'],
      details: Partial<SimulatorLogEntry> = {},
      headers: Record<string, string> = {},
    ): void => {
      log.append({ ...base, ...blank, ...details, status: response.status, outcome, errorCode: response.errorCode });
      sendError(res, response, headers);
    };

    if (!isAuthorized(req)) {
      reject(errors.unauthorized(), SimulatorOutcome.unauthorized);
      return;
    }
    const raw = await readBody(req, maxBodyBytes);
    if (raw === null) {
      reject(errors.payloadTooLarge(maxBodyBytes), SimulatorOutcome.invalidRequest);
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      // The parser's message would echo the body; the status says enough.
      reject(errors.invalidJson(), SimulatorOutcome.invalidRequest);
      return;
    }
    const extraParameters = req.headers['extra-parameters'];
    const validation = validateChatRequest(parsed, typeof extraParameters === 'string' ? extraParameters : undefined);
    if (!validation.ok) {
      reject(errors.unprocessable(validation.failure), SimulatorOutcome.invalidRequest);
      return;
    }
    const { body, maxTokens } = validation;
    const promptTokens = tokenCounter.countChatPrompt(body.messages);
    const requestHash = hashMessages(body.messages);
    const known = { promptTokens, maxTokens, requestHash };

    if (promptContains(body.messages, PROMPT_CONTENT_FILTER_MARKER)) {
      reject(errors.contentFilter(), SimulatorOutcome.contentFilter, known);
      return;
    }
    const contextFailure = checkContextLength(promptTokens, maxTokens, contextLength);
    if (contextFailure !== null) {
      reject(errors.unprocessable(contextFailure), SimulatorOutcome.invalidRequest, known);
      return;
    }

    const fault = faults.next();
    if (fault.kind === FaultKind.dailyQuota || fault.kind === FaultKind.burst429) {
      limiter.recordRejected(atInMs);
      const retryAfterInMs =
        fault.kind === FaultKind.dailyQuota
          ? DAILY_QUOTA_RETRY_AFTER_IN_MS
          : (faults.settings.burst429?.retryAfterInMs ?? 1_000);
      const retryAfterInSeconds = Math.ceil(retryAfterInMs / 1000);
      reject(
        errors.rateLimited(
          retryAfterInSeconds,
          fault.kind === FaultKind.dailyQuota ? 'The daily token quota of this deployment is exhausted.' : undefined,
        ),
        fault.kind === FaultKind.dailyQuota ? SimulatorOutcome.dailyQuota : SimulatorOutcome.burst429,
        { ...known, retryAfterInMs },
        {
          ...rateLimitHeaders(limiter.snapshot(atInMs), fault),
          'retry-after': String(retryAfterInSeconds),
          'retry-after-ms': String(retryAfterInMs),
        },
      );
      return;
    }

    const { defaultMaxTokensForAdmission } = limiter.settings;
    const chargedCompletionTokens =
      maxTokens ??
      (defaultMaxTokensForAdmission === 'remainingContext'
        ? Math.max(0, contextLength - promptTokens)
        : defaultMaxTokensForAdmission);
    const admissionTokens = promptTokens + chargedCompletionTokens;
    const decision = limiter.tryAdmit(admissionTokens, atInMs);
    if (!decision.admitted) {
      const retryAfterInSeconds = Math.ceil(decision.retryAfterInMs / 1000);
      reject(
        errors.rateLimited(retryAfterInSeconds),
        SimulatorOutcome.rateLimited,
        { ...known, retryAfterInMs: decision.retryAfterInMs },
        {
          ...rateLimitHeaders(decision, fault),
          'retry-after': String(retryAfterInSeconds),
          'retry-after-ms': String(decision.retryAfterInMs),
        },
      );
      return;
    }

    const admitted = { ...known, admittedTokens: admissionTokens };
    trackInFlight(res);
    const limitHeaders = rateLimitHeaders(decision, fault);
    if (fault.kind === FaultKind.serverError) {
      reject(errors.serverError(), SimulatorOutcome.serverError, admitted, limitHeaders);
      return;
    }
    if (fault.kind === FaultKind.hang) {
      const timeout = errors.gatewayTimeout();
      log.append({
        ...base,
        ...admitted,
        completionTokens: 0,
        status: timeout.status,
        outcome: SimulatorOutcome.hang,
        errorCode: timeout.errorCode,
      });
      // Held without a byte of response; released by the timeout, the client leaving, or close().
      later(res, faults.settings.hangInMs, () => sendError(res, timeout, limitHeaders));
      return;
    }

    const completion = simulatedCompletion(body, tokenCounter);
    log.append({
      ...base,
      ...admitted,
      completionTokens: completion.completionTokens,
      status: 200,
      outcome: SimulatorOutcome.completed,
    });
    const id = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: completion.completionTokens,
      total_tokens: promptTokens + completion.completionTokens,
    };
    const timing = latency.next(fault.jitterFraction);
    if (body.stream === true) {
      const streamOptions = body.stream_options as { include_usage?: boolean | null } | null | undefined;
      const includeUsage = streamOptions?.include_usage === true;
      const created = Math.floor(atInMs / 1000);
      streamCompletion(
        res,
        { id, created, content: completion.content, finishReason: completion.finishReason },
        usage,
        includeUsage,
        timing,
        limitHeaders,
      );
      return;
    }
    const responseBody = {
      id,
      object: 'chat.completion',
      created: Math.floor(atInMs / 1000),
      model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: completion.content },
          finish_reason: completion.finishReason,
        },
      ],
      usage,
    };
    later(res, generationTimeInMs(timing, completion.completionTokens), () =>
      sendJson(res, 200, responseBody, limitHeaders),
    );
  }

  async function handleAdmin(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const route = path.slice(ADMIN_PREFIX.length);
    const settingsRoutes = {
      faults: { get: () => faults.settings, set: setFaults },
      limits: { get: () => limiter.settings, set: setLimits },
      latency: { get: () => latency.settings, set: setLatency },
    } as const;
    if (route === 'stats' && req.method === 'GET') {
      sendJson(res, 200, { inFlight, peakInFlight });
      return;
    }
    if (route === 'log' && req.method === 'GET') {
      sendJson(res, 200, log.entries());
      return;
    }
    if (route === 'log/clear' && req.method === 'POST') {
      log.clear();
      sendJson(res, 200, { cleared: true });
      return;
    }
    if (route === 'faults' || route === 'limits' || route === 'latency') {
      const target = settingsRoutes[route];
      if (req.method === 'GET') {
        sendJson(res, 200, target.get());
        return;
      }
      if (req.method === 'POST') {
        const raw = await readBody(req, maxBodyBytes);
        if (raw === null) {
          sendError(res, errors.payloadTooLarge(maxBodyBytes));
          return;
        }
        let changes: unknown;
        try {
          changes = JSON.parse(raw.toString('utf8'));
        } catch {
          sendError(res, errors.invalidJson());
          return;
        }
        try {
          target.set(changes);
        } catch (error) {
          if (error instanceof SimulatorSettingsError) {
            sendError(res, errors.invalidSetting(error.message));
            return;
          }
          throw error;
        }
        sendJson(res, 200, target.get());
        return;
      }
      sendError(res, errors.methodNotAllowed(req.method ?? '', path), { allow: 'GET, POST' });
      return;
    }
    sendError(res, errors.notFound(path));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    res.setHeader('x-request-id', requestId);
    const clientRequestId = req.headers['x-ms-client-request-id'];
    if (typeof clientRequestId === 'string') {
      res.setHeader('x-ms-client-request-id', clientRequestId);
    }
    const path = new URL(req.url ?? '/', 'http://simulator.local').pathname.replace(/\/+$/, '') || '/';

    if (CHAT_PATHS.has(path)) {
      if (req.method !== 'POST') {
        sendError(res, errors.methodNotAllowed(req.method ?? '', path), { allow: 'POST' });
        return;
      }
      await handleChat(req, res, requestId);
      return;
    }
    if (!INFO_PATHS.has(path) && !path.startsWith(ADMIN_PREFIX)) {
      sendError(res, errors.notFound(path));
      return;
    }
    if (!isAuthorized(req)) {
      sendError(res, errors.unauthorized());
      return;
    }
    if (INFO_PATHS.has(path)) {
      if (req.method !== 'GET') {
        sendError(res, errors.methodNotAllowed(req.method ?? '', path), { allow: 'GET' });
        return;
      }
      sendJson(res, 200, { model_name: model, model_type: 'chat-completion', model_provider_name: 'Microsoft' });
      return;
    }
    await handleAdmin(req, res, path);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.destroyed || req.destroyed) {
        // The client left mid-request (e.g. aborted while sending the body): there is nobody to answer.
        return;
      }
      const message = error instanceof Error ? error.message : String(error);
      log.append({
        atInMs: clock(),
        status: 500,
        outcome: SimulatorOutcome.internalError,
        requestId: String(res.getHeader('x-request-id') ?? ''),
        promptTokens: null,
        maxTokens: null,
        admittedTokens: 0,
        completionTokens: 0,
        requestHash: null,
        errorCode: 'SimulatorInternalError',
        errorMessage: message,
      });
      if (!res.headersSent) {
        sendError(res, errors.simulatorInternalError(message));
      } else {
        res.destroy(error instanceof Error ? error : new Error(message));
      }
    });
  });

  // A deployment answers its first request as fast as its thousandth: the tokenizer's vocabulary and the
  // completion path are loaded before the port opens, not while the first callers wait on them.
  simulatedCompletion(
    { messages: [{ role: 'user', content: 'Warm up before the first request.' }], max_tokens: 16 },
    tokenCounter,
  );

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closed: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${address.port}`,
    apiKey,
    model,
    log,
    get inFlight() {
      return inFlight;
    },
    get peakInFlight() {
      return peakInFlight;
    },
    setFaults,
    setLimits,
    setLatency,
    close(): Promise<void> {
      closed ??= new Promise<void>((resolve, reject) => {
        for (const timer of pendingTimers) {
          clearTimeout(timer);
        }
        pendingTimers.clear();
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        // Held and delayed requests would otherwise keep close() waiting for minutes.
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

/** The body, or null when it is larger than `maxBytes` (the rest is drained so the connection stays usable). */
async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size <= maxBytes) {
      chunks.push(buffer);
    }
  }
  return size > maxBytes ? null : Buffer.concat(chunks);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed) {
    // The client has gone (aborted, timed out, or close() dropped it): nobody is left to answer.
    return;
  }
  if (res.headersSent) {
    throw new Error(`Response ${String(res.getHeader('x-request-id'))} was already sent`);
  }
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(payload)),
  });
  res.end(payload);
}

function sendError(res: ServerResponse, response: ErrorResponse, headers: Record<string, string> = {}): void {
  sendJson(res, response.status, response.body, { ...headers, 'x-ms-error-code': response.errorCode });
}
