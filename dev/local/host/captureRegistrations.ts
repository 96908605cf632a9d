import { createRequire } from 'node:module';
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LocalHostError, LocalHostErrorCode } from './errors.js';

/**
 * Learns an app's functions from its own `app.*` calls. `@azure/functions` does a plain
 * `require('@azure/functions-core')` on the first `app.*` call (the module the real worker provides);
 * a hook on `Module._load` answers it with a fake core that records every `registerFunction`.
 */

/** The parts of `@azure/functions-core`'s RpcBindingInfo the host reads; the library spreads the options in too. */
export interface RpcBindingInfo {
  readonly type?: string | null;
  readonly direction?: 'in' | 'out' | 'inout' | null;
  readonly properties?: Readonly<Record<string, string>> | null;
  readonly [option: string]: unknown;
}

export interface CoreFunctionMetadata {
  readonly name: string;
  readonly functionId?: string;
  readonly bindings: Readonly<Record<string, RpcBindingInfo>>;
  readonly retryOptions?: unknown;
}

export type FunctionCallback = (...args: unknown[]) => unknown;
export type HookCallback = (context: Record<string, unknown>) => unknown;

export interface CapturedFunction {
  readonly metadata: CoreFunctionMetadata;
  /** The raw user handler: `(triggerInput, context)`. */
  readonly callback: FunctionCallback;
  /** The entry module whose import registered it. */
  readonly entryModule: string;
}

export interface CapturedHook {
  readonly hookName: string;
  readonly callback: HookCallback;
  readonly isDisposed: () => boolean;
}

export interface CapturedApp {
  readonly functions: readonly CapturedFunction[];
  readonly hooks: readonly CapturedHook[];
  /**
   * The app called `app.setup({ enableHttpStream: true })` while it loaded. The real worker then hands HTTP
   * functions the request as a stream and streams their responses; otherwise it buffers both.
   */
  readonly httpStream: boolean;
}

export type CoreLogHandler = (level: string, category: string, message: string) => void;

interface RegistrationSink {
  readonly entryModule: string;
  readonly functions: CapturedFunction[];
  readonly hooks: CapturedHook[];
  httpStream: boolean;
}

/**
 * What `app.setup({ enableHttpStream: true })` tells the core it runs on (azure-functions-nodejs-library
 * `src/setup.ts`): the library keeps the flag to itself and reports it only as this system log line, which it
 * sends to the core when there is one. (Its other trace, the `HttpUri` capability, would open the library's
 * HTTP proxy.)
 */
const HTTP_STREAM_ENABLED_LOG = 'HTTP streaming enabled.';

interface CoreState {
  hookInstalled: boolean;
  sink: RegistrationSink | undefined;
  logHandler: CoreLogHandler;
  programmingModel: unknown;
  /** Registrations per imported entry module: ESM caches modules, so a second import would register nothing. */
  readonly captures: Map<string, Promise<CapturedApp>>;
  /** Serialises captures: the sink is process-wide. */
  queue: Promise<unknown>;
  readonly fakeCore: Record<string, unknown>;
}

// On globalThis so that every copy of this module in the process (test runners re-evaluate modules)
// shares the one fake core the library caches for the lifetime of the process.
const stateKey = Symbol.for('phi3-batch.local.functionsCore');

class Disposable {
  #callOnDispose: (() => void) | undefined;

  constructor(callOnDispose: () => void) {
    this.#callOnDispose = callOnDispose;
  }

  static from(...disposables: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => {
      for (const disposable of disposables) {
        disposable.dispose();
      }
    });
  }

  dispose(): void {
    this.#callOnDispose?.();
    this.#callOnDispose = undefined;
  }
}

function getState(): CoreState {
  const holder = globalThis as unknown as Record<symbol, CoreState | undefined>;
  const existing = holder[stateKey];
  if (existing) {
    return existing;
  }
  const state: CoreState = {
    hookInstalled: false,
    sink: undefined,
    logHandler: () => undefined,
    programmingModel: undefined,
    captures: new Map(),
    queue: Promise.resolve(),
    fakeCore: {},
  };
  Object.assign(state.fakeCore, createFakeCore(state));
  holder[stateKey] = state;
  return state;
}

function createFakeCore(state: CoreState): Record<string, unknown> {
  return {
    version: 'local',
    hostVersion: 'local',
    Disposable,
    registerFunction(metadata: CoreFunctionMetadata, callback: FunctionCallback): Disposable {
      const sink = state.sink;
      if (!sink) {
        // Same rule as the real worker: the function list is fixed once the app has started.
        throw new LocalHostError(
          LocalHostErrorCode.RegistrationOutsideStartup,
          `Function "${metadata.name}" was registered after app start-up; register functions at module load.`,
        );
      }
      const captured: CapturedFunction = { metadata, callback, entryModule: sink.entryModule };
      sink.functions.push(captured);
      return new Disposable(() => {
        const index = sink.functions.indexOf(captured);
        if (index >= 0) {
          sink.functions.splice(index, 1);
        }
      });
    },
    registerHook(hookName: string, callback: HookCallback): Disposable {
      const sink = state.sink;
      if (!sink) {
        throw new LocalHostError(
          LocalHostErrorCode.RegistrationOutsideStartup,
          `A "${hookName}" hook was registered after app start-up; register hooks at module load.`,
        );
      }
      let disposed = false;
      sink.hooks.push({ hookName, callback, isDisposed: () => disposed });
      return new Disposable(() => {
        disposed = true;
      });
    },
    setProgrammingModel(model: unknown): void {
      state.programmingModel = model;
    },
    getProgrammingModel(): unknown {
      return state.programmingModel ?? { name: 'local', version: 'local' };
    },
    log(level: string, category: string, message: string): void {
      if (state.sink && category === 'system' && message === HTTP_STREAM_ENABLED_LOG) {
        state.sink.httpStream = true;
      }
      state.logHandler(level, category, message);
    },
  };
}

/**
 * Answers `require('@azure/functions-core')` with the fake core. Idempotent. Must run before the
 * process's first `app.*` call: the library caches "no core" (test mode) for good otherwise.
 */
export function installFunctionsCoreHook(): void {
  const state = getState();
  if (state.hookInstalled) {
    return;
  }
  const require = createRequire(import.meta.url);
  const moduleApi = require('node:module') as {
    _load: (request: string, parent: unknown, isMain: boolean) => unknown;
  };
  const originalLoad = moduleApi._load;
  moduleApi._load = function load(this: unknown, request: string, parent: unknown, isMain: boolean): unknown {
    if (request === '@azure/functions-core') {
      return state.fakeCore;
    }
    return originalLoad.call(this, request, parent, isMain);
  };
  state.hookInstalled = true;
}

/** Where the library's system logs (`coreApi.log`) go; the most recently started host wins. */
export function setCoreLogHandler(handler: CoreLogHandler): void {
  getState().logHandler = handler;
}

/**
 * Runs `load` (which should import modules that call `app.*`) and returns what it registered.
 * Captures run one at a time in a process.
 */
export async function captureRegistrations(entryModule: string, load: () => Promise<unknown>): Promise<CapturedApp> {
  installFunctionsCoreHook();
  const state = getState();
  const run = async (): Promise<CapturedApp> => {
    const sink: RegistrationSink = { entryModule, functions: [], hooks: [], httpStream: false };
    state.sink = sink;
    try {
      await load();
    } finally {
      state.sink = undefined;
    }
    return { functions: sink.functions, hooks: sink.hooks, httpStream: sink.httpStream };
  };
  const result = state.queue.then(run, run);
  state.queue = result.catch(() => undefined);
  return result;
}

/** `file:` URL for an absolute path; URLs pass through. */
export function toModuleUrl(entryModule: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(entryModule) && !isAbsolute(entryModule)) {
    return entryModule;
  }
  if (!isAbsolute(entryModule)) {
    throw new LocalHostError(
      LocalHostErrorCode.InvalidState,
      `Entry module "${entryModule}" must be an absolute path or a URL.`,
    );
  }
  return pathToFileURL(entryModule).href;
}

export interface LoadFunctionAppOptions {
  /** Imports one module; defaults to dynamic `import()`. Test runners that transform TypeScript can pass their own. */
  readonly importModule?: (url: string) => Promise<unknown>;
}

/**
 * Imports each entry module once per process and returns every function and hook they registered.
 * Importing the same entry again (a second host in the process) returns the first import's registrations:
 * the module graph is cached, so the handlers are the very same functions.
 */
export async function loadFunctionApp(
  entryModules: readonly string[],
  options: LoadFunctionAppOptions = {},
): Promise<CapturedApp> {
  installFunctionsCoreHook();
  const state = getState();
  const importModule = options.importModule ?? ((url: string) => import(url));
  const functions: CapturedFunction[] = [];
  const hooks: CapturedHook[] = [];
  let httpStream = false;
  for (const entryModule of entryModules) {
    const url = toModuleUrl(entryModule);
    let capture = state.captures.get(url);
    if (!capture) {
      capture = captureRegistrations(url, () => importModule(url));
      state.captures.set(url, capture);
      // A failed import must not poison later attempts (the error is still thrown to this caller).
      capture.catch(() => state.captures.delete(url));
    }
    const captured = await capture;
    functions.push(...captured.functions);
    hooks.push(...captured.hooks);
    httpStream ||= captured.httpStream;
  }
  if (functions.length === 0) {
    throw new LocalHostError(
      LocalHostErrorCode.NoFunctionsRegistered,
      `No functions were registered by ${entryModules.join(', ')}. If "@azure/functions" was used (an app.* call) ` +
        'before the local host installed its hook, the library is stuck in test mode for this process: ' +
        'call installFunctionsCoreHook() before anything calls app.*.',
    );
  }
  const seen = new Set<string>();
  for (const fn of functions) {
    const key = fn.metadata.name.toLowerCase();
    if (seen.has(key)) {
      throw new LocalHostError(
        LocalHostErrorCode.DuplicateFunction,
        `Function "${fn.metadata.name}" is registered more than once (function names are case-insensitive).`,
      );
    }
    seen.add(key);
  }
  return { functions, hooks, httpStream };
}
