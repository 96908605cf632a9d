export {
  startPhi3Simulator,
  CUSTOM_ID_HEADER,
  DAILY_QUOTA_RETRY_AFTER_IN_MS,
  DEFAULT_SIMULATOR_API_KEY,
  DEFAULT_SIMULATOR_MODEL,
  type Phi3Simulator,
  type StartPhi3SimulatorOptions,
} from './startPhi3Simulator.js';
export {
  simulatedCompletion,
  hashMessages,
  canonicalJson,
  FinishReason,
  PROMPT_CONTENT_FILTER_MARKER,
  COMPLETION_CONTENT_FILTER_MARKER,
  type SimulatedCompletion,
} from './simulatedCompletion.js';
export {
  SimulatorLog,
  SimulatorOutcome,
  LogMetric,
  type SimulatorLogEntry,
  type MaxInAnyWindowOptions,
  type SimulatorLogListener,
} from './SimulatorLog.js';
export {
  DEFAULT_FAULT_SETTINGS,
  DEFAULT_LATENCY_SETTINGS,
  DEFAULT_LIMIT_SETTINGS,
  SimulatorSettingsError,
  parseFaultSettings,
  parseLatencySettings,
  parseLimitSettings,
  type Burst429Settings,
  type FaultSettings,
  type LatencySettings,
  type LimitSettings,
} from './settings.js';
export {
  SlidingWindowRateLimiter,
  RejectionReason,
  type AdmissionDecision,
  type RateLimitSnapshot,
} from './SlidingWindowRateLimiter.js';
export { FaultPlanner, FaultKind, type FaultDecision } from './FaultPlanner.js';
export { createSeededRandom, type RandomSource } from './seededRandom.js';
export {
  validateChatRequest,
  checkContextLength,
  contextLengthForModel,
  ValidationCode,
  ExtraParametersMode,
  type ValidationFailure,
  type ChatRequestValidation,
} from './validateChatRequest.js';
export { readSimulatorEnv, DEFAULT_SIMULATOR_PORT } from './readSimulatorEnv.js';
export {
  LatencyModel,
  generationTimeInMs,
  lognormalMultiplier,
  streamSteps,
  type GenerationTiming,
  type StreamStep,
} from './LatencyModel.js';
