import type {
  CapturedFunction,
  CoreFunctionMetadata,
  FunctionCallback,
  RpcBindingInfo,
} from './captureRegistrations.js';
import { LocalHostError, LocalHostErrorCode } from './errors.js';

export const TriggerType = {
  http: 'httpTrigger',
  queue: 'queueTrigger',
  blob: 'blobTrigger',
  timer: 'timerTrigger',
  eventGrid: 'eventGridTrigger',
} as const;
export type TriggerType = (typeof TriggerType)[keyof typeof TriggerType];

export const returnBindingName = '$return';

export interface NamedBinding {
  /** The key in `metadata.bindings` (random-suffixed unless the app named it). */
  readonly name: string;
  readonly binding: RpcBindingInfo;
}

/** A captured registration, indexed by what the host needs to drive it. */
export interface LocalFunction {
  readonly name: string;
  readonly metadata: CoreFunctionMetadata;
  readonly callback: FunctionCallback;
  readonly trigger: NamedBinding;
  /** Lower-case trigger binding type, e.g. `httptrigger`. */
  readonly triggerType: string;
  readonly returnBinding: NamedBinding | undefined;
  readonly extraInputs: readonly NamedBinding[];
  readonly extraOutputs: readonly NamedBinding[];
  /** What `InvocationContext.options` shows the handler (mirrors the library's fromRpcBindings). */
  readonly effectiveOptions: {
    readonly trigger: Record<string, unknown> & { name: string; type: string };
    readonly return: (Record<string, unknown> & { name: string; type: string }) | undefined;
    readonly extraInputs: (Record<string, unknown> & { name: string; type: string })[];
    readonly extraOutputs: (Record<string, unknown> & { name: string; type: string })[];
  };
}

function isTriggerType(type: string | null | undefined): boolean {
  return typeof type === 'string' && /trigger$/i.test(type);
}

function toOption(named: NamedBinding): Record<string, unknown> & { name: string; type: string } {
  return { ...named.binding, name: named.name, type: String(named.binding.type) };
}

export function toLocalFunction(captured: CapturedFunction): LocalFunction {
  const { metadata } = captured;
  const entries = Object.entries(metadata.bindings).map(([name, binding]): NamedBinding => ({ name, binding }));
  const triggers = entries.filter((entry) => isTriggerType(entry.binding.type));
  const [trigger] = triggers;
  if (!trigger || triggers.length > 1) {
    throw new LocalHostError(
      LocalHostErrorCode.InvalidBinding,
      `Function "${metadata.name}" must have exactly one trigger binding, found ${triggers.length}.`,
    );
  }
  const returnBinding = entries.find((entry) => entry.name === returnBindingName);
  const extraInputs = entries.filter((entry) => entry !== trigger && entry.binding.direction === 'in');
  const extraOutputs = entries.filter((entry) => entry !== returnBinding && entry.binding.direction === 'out');
  return {
    name: metadata.name,
    metadata,
    callback: captured.callback,
    trigger,
    triggerType: String(trigger.binding.type).toLowerCase(),
    returnBinding,
    extraInputs,
    extraOutputs,
    effectiveOptions: {
      trigger: toOption(trigger),
      return: returnBinding ? toOption(returnBinding) : undefined,
      extraInputs: extraInputs.map(toOption),
      extraOutputs: extraOutputs.map(toOption),
    },
  };
}

/** A trigger option as a string, or undefined. */
export function stringOption(binding: RpcBindingInfo, key: string): string | undefined {
  const value = binding[key];
  return typeof value === 'string' ? value : undefined;
}

export function requireStringOption(fn: LocalFunction, key: string): string {
  const value = stringOption(fn.trigger.binding, key);
  if (value === undefined || value.trim() === '') {
    throw new LocalHostError(
      LocalHostErrorCode.InvalidBinding,
      `Function "${fn.name}": the ${fn.trigger.binding.type} binding needs a "${key}".`,
    );
  }
  return value;
}
