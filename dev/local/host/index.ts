export {
  createLocalFunctionsHost,
  type CreateLocalFunctionsHostOptions,
  type InvokeFunctionOptions,
  type LocalFunctionInfo,
  type LocalFunctionsHost,
} from './LocalFunctionsHost.js';
export {
  captureRegistrations,
  installFunctionsCoreHook,
  loadFunctionApp,
  type CapturedApp,
  type CapturedFunction,
  type CapturedHook,
  type CoreFunctionMetadata,
  type LoadFunctionAppOptions,
  type RpcBindingInfo,
} from './captureRegistrations.js';
export {
  BlobDisposition,
  InvocationOutcome,
  QueueDisposition,
  type InvocationEvent,
  type InvocationListener,
  type TriggerDetails,
} from './events.js';
export { ensureError, FunctionTimeoutError, LocalHostError, LocalHostErrorCode } from './errors.js';
export { parseHostJson, parseTimeSpan, readHostJson, type HostSettings, type QueueHostSettings } from './hostJson.js';
export {
  createJsonLinesLogger,
  LogLevel,
  silentLogger,
  type LocalHostLogEntry,
  type LocalHostLogger,
} from './logger.js';
export { compileRouteTemplate, type CompiledRoute } from './routeTemplate.js';
export { parseTimerSchedule, type TimerSchedule } from './timerSchedule.js';
export { blobPoisonQueueName, blobReceiptsContainerName, maxBlobTries, type BlobPollResult } from './BlobListener.js';
export type { QueuePollResult } from './QueueListener.js';
export { parseStorageConnectionString, StorageClients } from './storageClients.js';
