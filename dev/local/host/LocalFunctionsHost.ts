import { dirname } from 'node:path';
import { defaultStorageConnectionName, resolveAppSettingReferences, type AppSettings } from './appSettings.js';
import { blobPoisonQueueName, blobReceiptsContainerName, BlobListener, type BlobPollResult } from './BlobListener.js';
import { parseBlobPath } from './blobPath.js';
import { loadFunctionApp, setCoreLogHandler, type CoreFunctionMetadata } from './captureRegistrations.js';
import { ensureError, LocalHostError, LocalHostErrorCode } from './errors.js';
import { InvocationEvents, type InvocationEvent, type InvocationListener } from './events.js';
import { QueueMessageEncoding, readHostJson, type HostSettings } from './hostJson.js';
import { HttpListener } from './HttpListener.js';
import { Invoker, type OutputSender } from './Invoker.js';
import {
  requireStringOption,
  returnBindingName,
  stringOption,
  toLocalFunction,
  TriggerType,
  type LocalFunction,
} from './localFunction.js';
import { LogLevel, silentLogger, toLogLevel, type LocalHostLogger } from './logger.js';
import { TaskTracker } from './polling.js';
import { encodeQueueOutput, toTriggerValue } from './queueMessages.js';
import { QueueListener, type QueuePollResult } from './QueueListener.js';
import { StorageClients } from './storageClients.js';
import { TimerListener } from './TimerListener.js';
import { parseTimerSchedule } from './timerSchedule.js';

export interface CreateLocalFunctionsHostOptions {
  /** Modules whose import registers the app's functions: absolute paths or `file:` URLs. */
  readonly entryModules: readonly string[];
  readonly hostJsonPath: string;
  /** App settings (binding expressions, connections). Default: `process.env`. The app's own code still reads `process.env`. */
  readonly env?: AppSettings;
  /** Default 7071; 0 picks a free port. */
  readonly httpPort?: number;
  readonly httpHost?: string;
  /** Default true. A host without HTTP still runs queue, blob and timer triggers. */
  readonly httpEnabled?: boolean;
  /** When set, `function`/`admin` HTTP functions need `x-functions-key: <key>` or `?code=<key>`. */
  readonly functionKey?: string;
  readonly logger?: LocalHostLogger;
  /** Shared by every host instance of one app (blob receipts, timer status). Default: app setting `AzureFunctionsWebHost__hostid`, else `local-functions-host`. */
  readonly hostId?: string;
  /** Default 500 ms. */
  readonly blobPollingIntervalInMs?: number;
  /** How long a received queue message stays leased while it runs (renewed at half-time). Default 10 min, like the host. */
  readonly queueLeaseInMs?: number;
  /** How long stop() waits for running invocations. Default 30 s. */
  readonly stopTimeoutInMs?: number;
  /** Default true. False: no background polling or timer schedule; drive with pollQueuesNow/pollBlobsNow/invokeTimer. */
  readonly pollAutomatically?: boolean;
  /** Default 100 MB, like the real host. */
  readonly maxRequestBodyInBytes?: number;
  /** How to import an entry module. Default: dynamic `import()`. */
  readonly importModule?: (url: string) => Promise<unknown>;
  /** Passed to appStart hooks. Default: the folder of host.json. */
  readonly functionAppDirectory?: string;
}

export interface LocalFunctionInfo {
  readonly name: string;
  /** The trigger binding type as registered, e.g. `httpTrigger`. */
  readonly triggerType: string;
  readonly metadata: CoreFunctionMetadata;
}

export interface InvokeFunctionOptions {
  readonly triggerMetadata?: Record<string, unknown>;
}

export interface LocalFunctionsHost {
  /** The captured registrations (after start). */
  readonly functions: readonly LocalFunctionInfo[];
  /** e.g. `http://127.0.0.1:7071` (after start, when HTTP is enabled). */
  readonly httpUrl: string;
  readonly hostSettings: HostSettings;
  start(): Promise<void>;
  /** Graceful: stop polling, wait for running invocations (up to stopTimeoutInMs), close servers. */
  stop(): Promise<void>;
  /** Receive one batch from every watched queue now; resolves once those messages are settled. */
  pollQueuesNow(): Promise<QueuePollResult>;
  /** Scan every watched container now; resolves once the versions found are settled. */
  pollBlobsNow(): Promise<BlobPollResult>;
  invokeTimer(functionName: string): Promise<InvocationEvent>;
  /** Runs any function with a given trigger input (what the admin API does). */
  invokeFunction(functionName: string, input: unknown, options?: InvokeFunctionOptions): Promise<InvocationEvent>;
  onInvocation(listener: InvocationListener): () => void;
}

const HostState = {
  created: 'created',
  starting: 'starting',
  running: 'running',
  stopping: 'stopping',
  stopped: 'stopped',
} as const;
type HostState = (typeof HostState)[keyof typeof HostState];

const defaultHostId = 'local-functions-host';

export function createLocalFunctionsHost(options: CreateLocalFunctionsHostOptions): LocalFunctionsHost {
  return new LocalFunctionsHostImpl(options);
}

interface Listeners {
  readonly queues: QueueListener[];
  readonly blobs: BlobListener[];
  readonly timers: Map<string, TimerListener>;
  /** Storage to create before anything polls (queues, receipt container). */
  readonly prepares: (() => Promise<unknown>)[];
}

class LocalFunctionsHostImpl implements LocalFunctionsHost {
  readonly #options: CreateLocalFunctionsHostOptions;
  readonly #logger: LocalHostLogger;
  readonly #events: InvocationEvents;
  readonly #tracker = new TaskTracker();
  #state: HostState = HostState.created;
  #settings: AppSettings = {};
  #hostSettings: HostSettings | undefined;
  #functions: LocalFunction[] = [];
  #invoker: Invoker | undefined;
  #http: HttpListener | undefined;
  #listeners: Listeners = { queues: [], blobs: [], timers: new Map(), prepares: [] };
  #appDirectory = '';
  #clients: StorageClients | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: CreateLocalFunctionsHostOptions) {
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.#events = new InvocationEvents((error) =>
      this.#logger.log({
        level: LogLevel.warning,
        category: 'host',
        error: ensureError(error),
        message: 'An onInvocation listener threw.',
      }),
    );
  }

  get functions(): readonly LocalFunctionInfo[] {
    this.#assertStarted('functions');
    return this.#functions.map((fn) => ({
      name: fn.name,
      triggerType: String(fn.trigger.binding.type),
      metadata: fn.metadata,
    }));
  }

  get httpUrl(): string {
    this.#assertStarted('httpUrl');
    if (!this.#http) {
      throw new LocalHostError(LocalHostErrorCode.InvalidState, 'HTTP is disabled on this host.');
    }
    return this.#http.url;
  }

  get hostSettings(): HostSettings {
    this.#assertStarted('hostSettings');
    return this.#hostSettings as HostSettings;
  }

  onInvocation(listener: InvocationListener): () => void {
    return this.#events.subscribe(listener);
  }

  async start(): Promise<void> {
    if (this.#state !== HostState.created) {
      throw new LocalHostError(LocalHostErrorCode.InvalidState, `start() called on a host that is ${this.#state}.`);
    }
    this.#state = HostState.starting;
    try {
      await this.#start();
      this.#state = HostState.running;
    } catch (error) {
      await this.#shutDown(0);
      this.#state = HostState.stopped;
      throw error;
    }
  }

  stop(): Promise<void> {
    if (this.#stopping) {
      return this.#stopping;
    }
    if (this.#state === HostState.stopped) {
      return Promise.resolve();
    }
    if (this.#state !== HostState.running) {
      return Promise.reject(
        new LocalHostError(LocalHostErrorCode.InvalidState, `stop() called on a host that is ${this.#state}.`),
      );
    }
    this.#state = HostState.stopping;
    this.#stopping = (async () => {
      try {
        await this.#shutDown(this.#options.stopTimeoutInMs ?? 30_000);
        await this.#invoker?.runAppHook('appTerminate', this.#appDirectory);
      } finally {
        this.#state = HostState.stopped;
        this.#logger.log({ level: LogLevel.information, category: 'host', message: 'Host stopped.' });
      }
    })();
    return this.#stopping;
  }

  async pollQueuesNow(): Promise<QueuePollResult> {
    this.#assertRunning('pollQueuesNow');
    const results = await Promise.all(this.#listeners.queues.map((listener) => listener.pollNow()));
    return { received: results.reduce((sum, result) => sum + result.received, 0) };
  }

  async pollBlobsNow(): Promise<BlobPollResult> {
    this.#assertRunning('pollBlobsNow');
    const results = await Promise.all(this.#listeners.blobs.map((listener) => listener.pollNow()));
    return { candidates: results.reduce((sum, result) => sum + result.candidates, 0) };
  }

  async invokeTimer(functionName: string): Promise<InvocationEvent> {
    this.#assertRunning('invokeTimer');
    const timer = this.#listeners.timers.get(functionName.toLowerCase());
    if (!timer) {
      throw new LocalHostError(
        LocalHostErrorCode.UnknownFunction,
        `No timer-triggered function named "${functionName}".`,
      );
    }
    return timer.invokeNow();
  }

  async invokeFunction(
    functionName: string,
    input: unknown,
    options: InvokeFunctionOptions = {},
  ): Promise<InvocationEvent> {
    this.#assertRunning('invokeFunction');
    const fn = this.#find(functionName);
    const invoker = this.#invoker as Invoker;
    const result = await this.#tracker.track(
      invoker.invoke(fn, {
        input,
        triggerMetadata: options.triggerMetadata,
        reason: 'This function was programmatically called via the host APIs.',
      }),
    );
    const event: InvocationEvent = {
      functionName: fn.name,
      invocationId: result.invocationId,
      outcome: result.outcome,
      startedAt: result.startedAt,
      durationInMs: result.durationInMs,
      error: result.error,
      trigger: { type: 'manual' },
    };
    this.#events.emit(event);
    return event;
  }

  #find(functionName: string): LocalFunction {
    const fn = this.#functions.find((candidate) => candidate.name.toLowerCase() === functionName.toLowerCase());
    if (!fn) {
      throw new LocalHostError(LocalHostErrorCode.UnknownFunction, `No function named "${functionName}".`);
    }
    return fn;
  }

  #assertStarted(member: string): void {
    if (this.#state === HostState.created || this.#state === HostState.starting) {
      throw new LocalHostError(LocalHostErrorCode.InvalidState, `${member} is available once start() has resolved.`);
    }
  }

  #assertRunning(member: string): void {
    if (this.#state !== HostState.running) {
      throw new LocalHostError(
        LocalHostErrorCode.InvalidState,
        `${member}() needs a running host (it is ${this.#state}).`,
      );
    }
  }

  async #start(): Promise<void> {
    const options = this.#options;
    this.#settings = { ...(options.env ?? process.env) };
    this.#appDirectory = options.functionAppDirectory ?? dirname(options.hostJsonPath);
    const hostSettings = await readHostJson(options.hostJsonPath);
    this.#hostSettings = hostSettings;
    const hostId = options.hostId ?? this.#settings.AzureFunctionsWebHost__hostid ?? defaultHostId;
    if (!/^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/.test(hostId)) {
      throw new LocalHostError(
        LocalHostErrorCode.InvalidState,
        `Host id "${hostId}" must be 1-32 lower-case letters, digits or dashes, not starting or ending with a dash.`,
      );
    }

    setCoreLogHandler((level, category, message) => {
      // The library's informational system logs are worker chatter; keep warnings and errors visible.
      const parsed = toLogLevel(level) ?? LogLevel.information;
      const shown = parsed === LogLevel.information ? LogLevel.debug : parsed;
      this.#logger.log({ level: shown, category: 'system', message: `[${category}] ${message}` });
    });
    const app = await loadFunctionApp(options.entryModules, { importModule: options.importModule });
    this.#functions = app.functions.map(toLocalFunction);

    const clients = new StorageClients(this.#settings);
    this.#clients = clients;
    const outputs = new Map<string, OutputSender[]>();
    for (const fn of this.#functions) {
      outputs.set(fn.name, this.#createOutputs(fn, clients, hostSettings));
    }
    const invoker = new Invoker({
      hooks: app.hooks,
      logger: this.#logger,
      functionTimeoutInMs: hostSettings.functionTimeoutInMs,
      outputs,
    });
    this.#invoker = invoker;
    this.#listeners = this.#createListeners(clients, hostSettings, invoker, hostId);

    await Promise.all([
      ...this.#listeners.queues.map((listener) => listener.prepare()),
      ...this.#listeners.blobs.map((listener) => listener.prepare()),
      ...this.#listeners.prepares.map((prepare) => prepare()),
    ]);
    await invoker.runAppHook('appStart', this.#appDirectory);

    const httpFunctions = this.#functions.filter((fn) => fn.triggerType === TriggerType.http.toLowerCase());
    if (options.httpEnabled !== false) {
      this.#http = new HttpListener({
        functions: httpFunctions,
        routePrefix: hostSettings.routePrefix,
        host: options.httpHost ?? '127.0.0.1',
        port: options.httpPort ?? 7071,
        functionKey: options.functionKey,
        invoker,
        logger: this.#logger,
        emit: (event) => this.#events.emit(event),
        adminInvoke: (name, input) => this.#adminInvoke(name, input),
        maxRequestBodyInBytes: options.maxRequestBodyInBytes ?? 100 * 1024 * 1024,
        tracker: this.#tracker,
        httpStream: app.httpStream,
      });
      await this.#http.start();
    }
    if (options.pollAutomatically !== false) {
      for (const listener of [...this.#listeners.queues, ...this.#listeners.blobs]) {
        listener.startPolling();
      }
      await Promise.all([...this.#listeners.timers.values()].map((timer) => timer.start()));
    }
    this.#logger.log({
      level: LogLevel.information,
      category: 'host',
      message: `Host started with ${this.#functions.length} function(s)${this.#http ? ` on ${this.#http.url}` : ''}.`,
      data: {
        hostId,
        functions: this.#functions.map((fn) => ({ name: fn.name, trigger: fn.trigger.binding.type })),
      },
    });
  }

  #createOutputs(fn: LocalFunction, clients: StorageClients, hostSettings: HostSettings): OutputSender[] {
    if (fn.extraInputs.length > 0) {
      const types = fn.extraInputs.map((input) => input.binding.type).join(', ');
      throw new LocalHostError(
        LocalHostErrorCode.UnsupportedBinding,
        `Function "${fn.name}": extra input bindings (${types}) are not supported by the local host; use the SDK in the handler.`,
      );
    }
    const senders: OutputSender[] = [];
    const outputs = [...(fn.returnBinding ? [fn.returnBinding] : []), ...fn.extraOutputs];
    for (const output of outputs) {
      const type = String(output.binding.type).toLowerCase();
      if (type === 'http' && output.name === returnBindingName && fn.triggerType === TriggerType.http.toLowerCase()) {
        continue;
      }
      if (type !== 'queue') {
        throw new LocalHostError(
          LocalHostErrorCode.UnsupportedBinding,
          `Function "${fn.name}": output binding "${output.name}" of type "${output.binding.type}" is not supported by the local host (queue outputs are).`,
        );
      }
      const queueNameOption = stringOption(output.binding, 'queueName');
      if (!queueNameOption) {
        throw new LocalHostError(
          LocalHostErrorCode.InvalidBinding,
          `Function "${fn.name}": queue output "${output.name}" needs a queueName.`,
        );
      }
      const queueName = resolveAppSettingReferences(queueNameOption, this.#settings, {
        functionName: fn.name,
        property: 'queueName',
      });
      const queue = clients.queueService(stringOption(output.binding, 'connection'), fn.name).getQueueClient(queueName);
      let created: Promise<unknown> | undefined;
      senders.push({
        bindingName: output.name,
        send: async (value) => {
          created ??= queue.createIfNotExists();
          await created;
          for (const text of encodeQueueOutput(value, hostSettings.queues.messageEncoding)) {
            await queue.sendMessage(text);
          }
        },
      });
    }
    return senders;
  }

  #createListeners(clients: StorageClients, hostSettings: HostSettings, invoker: Invoker, hostId: string): Listeners {
    const listeners: Listeners = { queues: [], blobs: [], timers: new Map(), prepares: [] };
    const emit = (event: InvocationEvent): void => this.#events.emit(event);
    const hostStorageConfigured =
      (this.#settings[defaultStorageConnectionName] ?? '') !== '' ||
      (this.#settings[`${defaultStorageConnectionName}__blobServiceUri`] ?? '') !== '';
    const encodeMessage = (text: string): string =>
      hostSettings.queues.messageEncoding === QueueMessageEncoding.base64
        ? Buffer.from(text, 'utf8').toString('base64')
        : text;

    for (const fn of this.#functions) {
      const binding = fn.trigger.binding;
      const resolve = (property: string): string =>
        resolveAppSettingReferences(requireStringOption(fn, property), this.#settings, {
          functionName: fn.name,
          property,
        });
      const connectionOption = stringOption(binding, 'connection');
      const connection =
        connectionOption === undefined || connectionOption === ''
          ? undefined
          : resolveAppSettingReferences(connectionOption, this.#settings, {
              functionName: fn.name,
              property: 'connection',
            });

      switch (fn.triggerType) {
        case TriggerType.http.toLowerCase():
          break;
        case TriggerType.queue.toLowerCase(): {
          const queueName = resolve('queueName');
          const service = clients.queueService(connection, fn.name);
          listeners.queues.push(
            new QueueListener({
              fn,
              queue: service.getQueueClient(queueName),
              poisonQueue: service.getQueueClient(`${queueName}-poison`),
              settings: hostSettings.queues,
              invoker,
              logger: this.#logger,
              emit,
              leaseInMs: this.#options.queueLeaseInMs ?? 10 * 60 * 1000,
              tracker: this.#tracker,
            }),
          );
          break;
        }
        case TriggerType.blob.toLowerCase(): {
          const pattern = parseBlobPath(resolve('path'), fn.name);
          const service = clients.blobService(connection, fn.name);
          const hostBlobs = hostStorageConfigured ? clients.blobService(undefined, fn.name) : service;
          const hostQueues = hostStorageConfigured
            ? clients.queueService(undefined, fn.name)
            : clients.queueService(connection, fn.name);
          listeners.blobs.push(
            new BlobListener({
              fn,
              pattern,
              container: service.getContainerClient(pattern.containerName),
              connectionName: connection ?? defaultStorageConnectionName,
              deferred: binding.properties?.supportsDeferredBinding === 'true',
              receipts: hostBlobs.getContainerClient(blobReceiptsContainerName),
              poisonQueue: hostQueues.getQueueClient(blobPoisonQueueName),
              encodeMessage,
              hostId,
              pollIntervalInMs: this.#options.blobPollingIntervalInMs ?? 500,
              maxDegreeOfParallelism: hostSettings.blobs.maxDegreeOfParallelism,
              invoker,
              logger: this.#logger,
              emit,
              tracker: this.#tracker,
            }),
          );
          break;
        }
        case TriggerType.timer.toLowerCase(): {
          const schedule = parseTimerSchedule(resolve('schedule'), fn.name, this.#settings.WEBSITE_TIME_ZONE ?? 'UTC');
          if (!hostStorageConfigured) {
            this.#logger.log({
              level: LogLevel.warning,
              category: 'host',
              functionName: fn.name,
              message: `"${defaultStorageConnectionName}" is not set: timer "${fn.name}" runs on every host instance and cannot detect missed occurrences.`,
            });
          }
          const statusBlob = hostStorageConfigured
            ? clients
                .blobService(undefined, fn.name)
                .getContainerClient(blobReceiptsContainerName)
                .getBlockBlobClient(`timers/${hostId}/Host.Functions.${fn.name}/status`)
            : undefined;
          listeners.timers.set(
            fn.name.toLowerCase(),
            new TimerListener({
              fn,
              schedule,
              runOnStartup: binding.runOnStartup === true,
              useMonitor: binding.useMonitor !== false,
              statusBlob,
              invoker,
              logger: this.#logger,
              emit,
              tracker: this.#tracker,
            }),
          );
          break;
        }
        default:
          this.#logger.log({
            level: LogLevel.warning,
            category: 'host',
            functionName: fn.name,
            message: `Trigger type "${binding.type}" has no local listener; "${fn.name}" runs only through invokeFunction() or POST /admin/functions/${fn.name}.`,
          });
      }
    }
    if (listeners.timers.size > 0 && hostStorageConfigured) {
      // Timer status blobs live next to the blob receipts.
      const container = clients.blobService(undefined, 'timers').getContainerClient(blobReceiptsContainerName);
      listeners.prepares.push(() => container.createIfNotExists());
    }
    return listeners;
  }

  async #adminInvoke(name: string, input: unknown): Promise<'accepted' | 'notFound'> {
    const fn = this.#functions.find((candidate) => candidate.name.toLowerCase() === name.toLowerCase());
    if (!fn || fn.triggerType === TriggerType.http.toLowerCase()) {
      return 'notFound';
    }
    // Like the real admin API: accept now, run in the background, report through onInvocation.
    const run =
      fn.triggerType === TriggerType.timer.toLowerCase()
        ? this.invokeTimer(fn.name)
        : this.invokeFunction(fn.name, typeof input === 'string' ? toTriggerValue(input) : input);
    void run.catch((error: unknown) => {
      this.#logger.log({
        level: LogLevel.error,
        category: 'host',
        functionName: fn.name,
        error: ensureError(error),
        message: `Admin invocation of "${fn.name}" could not start.`,
      });
    });
    return 'accepted';
  }

  async #shutDown(timeoutInMs: number): Promise<void> {
    const { queues, blobs, timers } = this.#listeners;
    for (const timer of timers.values()) {
      timer.stop();
    }
    const httpClosed = this.#http?.stopAccepting();
    await Promise.all([...queues, ...blobs].map((listener) => listener.stopPolling()));
    const drained = (
      await Promise.all([this.#tracker.drain(timeoutInMs), this.#invoker?.drain(timeoutInMs) ?? Promise.resolve(true)])
    ).every(Boolean);
    if (!drained) {
      this.#logger.log({
        level: LogLevel.warning,
        category: 'host',
        message: `Stopping with invocations still running after ${timeoutInMs} ms; their queue messages and blob receipts will be picked up again once their leases lapse.`,
      });
    }
    this.#http?.closeAllConnections();
    await httpClosed;
    this.#clients?.close();
  }
}
