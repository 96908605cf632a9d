import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { format } from 'node:util';
// Default import: Node's ESM loader cannot see the classes among this CommonJS bundle's named exports.
import azureFunctions from '@azure/functions';
import type { InvocationContext, RetryContext } from '@azure/functions';
import type { CapturedHook } from './captureRegistrations.js';
import { ensureError, FunctionTimeoutError } from './errors.js';
import { InvocationOutcome } from './events.js';
import type { LocalFunction } from './localFunction.js';
import { returnBindingName } from './localFunction.js';
import { LogLevel, toLogLevel, type LocalHostLogger } from './logger.js';
import { TaskTracker } from './polling.js';

/** Delivers one output binding's value after a successful invocation. */
export interface OutputSender {
  readonly bindingName: string;
  send(value: unknown): Promise<void>;
}

export interface InvokeOptions {
  readonly input?: unknown;
  /** Builds the trigger input inside the invocation (like the worker's getArguments): a failure fails the invocation. */
  readonly resolveInput?: () => Promise<unknown>;
  readonly triggerMetadata?: Record<string, unknown>;
  readonly retryContext?: RetryContext;
  /** A short reason for the "Executing" log line, like the real host's `Reason=`. */
  readonly reason?: string;
}

export interface InvocationResult {
  readonly invocationId: string;
  readonly outcome: InvocationOutcome;
  readonly startedAt: Date;
  readonly durationInMs: number;
  readonly result?: unknown;
  readonly error?: Error;
}

export interface InvokerOptions {
  readonly hooks: readonly CapturedHook[];
  readonly logger: LocalHostLogger;
  readonly functionTimeoutInMs: number | undefined;
  /** Output bindings per function name. */
  readonly outputs: ReadonlyMap<string, readonly OutputSender[]>;
}

/**
 * Runs a captured handler the way the worker does: InvocationContext, pre/post invocation hooks,
 * host.json functionTimeout, output bindings, and a log line per invocation. Never throws.
 */
export class Invoker {
  readonly #options: InvokerOptions;
  readonly #inFlight = new TaskTracker();
  readonly #appHookData: Record<string, unknown> = {};

  constructor(options: InvokerOptions) {
    this.#options = options;
  }

  get inFlightCount(): number {
    return this.#inFlight.size;
  }

  invoke(fn: LocalFunction, options: InvokeOptions): Promise<InvocationResult> {
    return this.#inFlight.track(this.#run(fn, options));
  }

  /** Resolves true once every running invocation settled, false if `timeoutInMs` passed first. */
  drain(timeoutInMs: number): Promise<boolean> {
    return this.#inFlight.drain(timeoutInMs);
  }

  async runAppHook(hookName: 'appStart' | 'appTerminate', functionAppDirectory: string): Promise<void> {
    for (const hook of this.#hooks(hookName)) {
      await hook.callback({ hookData: {}, appHookData: this.#appHookData, functionAppDirectory });
    }
  }

  #hooks(hookName: string): CapturedHook[] {
    return this.#options.hooks.filter((hook) => hook.hookName === hookName && !hook.isDisposed());
  }

  async #run(fn: LocalFunction, options: InvokeOptions): Promise<InvocationResult> {
    const invocationId = randomUUID();
    const startedAt = new Date();
    const started = performance.now();
    const { logger } = this.#options;
    logger.log({
      level: LogLevel.debug,
      category: 'host',
      functionName: fn.name,
      invocationId,
      message: `Executing 'Functions.${fn.name}' (Reason='${options.reason ?? 'trigger'}', Id=${invocationId})`,
    });
    const context = new azureFunctions.InvocationContext({
      invocationId,
      functionName: fn.name,
      logHandler: (level, ...args) => this.#userLog(fn.name, invocationId, context, level, args),
      triggerMetadata: options.triggerMetadata,
      retryContext: options.retryContext,
      options: fn.effectiveOptions,
    });

    let outcome: InvocationOutcome = InvocationOutcome.succeeded;
    let result: unknown;
    let error: Error | undefined;
    try {
      const input = options.resolveInput ? await options.resolveInput() : options.input;
      const hookData: Record<string, unknown> = {};
      // The library's hook contexts wrap this object and write `inputs` / `functionCallback` back into it.
      const pre: Record<string, unknown> = {
        hookData,
        appHookData: this.#appHookData,
        invocationContext: context,
        inputs: [input],
        functionCallback: fn.callback,
      };
      for (const hook of this.#hooks('preInvocation')) {
        await hook.callback(pre);
      }
      const inputs = pre.inputs as unknown[];
      const callback = pre.functionCallback as LocalFunction['callback'];
      try {
        result = await this.#withTimeout(fn.name, () => callback(...inputs, context));
      } catch (thrown) {
        error = ensureError(thrown);
      }
      const post: Record<string, unknown> = {
        hookData,
        appHookData: this.#appHookData,
        invocationContext: context,
        inputs,
        result,
        error,
      };
      for (const hook of this.#hooks('postInvocation')) {
        await hook.callback(post);
      }
      result = post.result;
      error = post.error === undefined || post.error === null ? undefined : ensureError(post.error);
      if (!error) {
        await this.#sendOutputs(fn, context, result);
      }
    } catch (thrown) {
      error = ensureError(thrown);
    }
    if (error) {
      outcome = error instanceof FunctionTimeoutError ? InvocationOutcome.timedOut : InvocationOutcome.failed;
    }
    const durationInMs = performance.now() - started;
    logger.log({
      level: error ? LogLevel.error : LogLevel.information,
      category: 'host',
      functionName: fn.name,
      invocationId,
      error,
      message: `Executed 'Functions.${fn.name}' (${error ? 'Failed' : 'Succeeded'}, Id=${invocationId}, Duration=${Math.round(durationInMs)}ms)`,
    });
    return { invocationId, outcome, startedAt, durationInMs, result, error };
  }

  async #withTimeout(functionName: string, run: () => unknown): Promise<unknown> {
    const timeoutInMs = this.#options.functionTimeoutInMs;
    const running = Promise.resolve().then(run);
    if (timeoutInMs === undefined) {
      return running;
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new FunctionTimeoutError(functionName, timeoutInMs)), timeoutInMs);
    });
    try {
      return await Promise.race([running, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #sendOutputs(fn: LocalFunction, context: InvocationContext, result: unknown): Promise<void> {
    for (const sender of this.#options.outputs.get(fn.name) ?? []) {
      const value = sender.bindingName === returnBindingName ? result : context.extraOutputs.get(sender.bindingName);
      if (value !== undefined && value !== null) {
        await sender.send(value);
      }
    }
  }

  #userLog(
    functionName: string,
    invocationId: string,
    context: InvocationContext,
    level: string,
    args: readonly unknown[],
  ): void {
    const hookContext: Record<string, unknown> = {
      hookData: {},
      appHookData: this.#appHookData,
      invocationContext: context,
      category: 'user',
      level,
      message: format(...args),
    };
    for (const hook of this.#hooks('log')) {
      try {
        hook.callback(hookContext);
      } catch (error) {
        this.#options.logger.log({
          level: LogLevel.warning,
          category: 'host',
          functionName,
          invocationId,
          error: ensureError(error),
          message: 'A log hook threw; the log entry is written unchanged by it.',
        });
      }
    }
    const finalLevel = toLogLevel(String(hookContext.level));
    if (finalLevel === undefined) {
      // `none` (or an unknown level): the app asked for this entry not to be written.
      return;
    }
    this.#options.logger.log({
      level: finalLevel,
      category: 'user',
      functionName,
      invocationId,
      message: String(hookContext.message),
    });
  }
}
