import type { InvocationEvent } from '../../dev/local/host/events.js';
import type { LocalFunctionsHost } from '../../dev/local/host/LocalFunctionsHost.js';
import { waitFor, type WaitForOptions } from './waitFor.js';

export interface InvocationRecorder {
  readonly events: readonly InvocationEvent[];
  /** Resolves with the first recorded event (past or future) matching `predicate`. */
  next(predicate: (event: InvocationEvent) => boolean, options?: WaitForOptions): Promise<InvocationEvent>;
  /** Resolves once `count` recorded events match `predicate`. */
  atLeast(
    count: number,
    predicate: (event: InvocationEvent) => boolean,
    options?: WaitForOptions,
  ): Promise<InvocationEvent[]>;
  dispose(): void;
}

/** Records every invocation a host reports, so tests wait on events instead of sleeping. */
export function recordInvocations(host: Pick<LocalFunctionsHost, 'onInvocation'>): InvocationRecorder {
  const events: InvocationEvent[] = [];
  const unsubscribe = host.onInvocation((event) => events.push(event));
  return {
    events,
    next: (predicate, options) =>
      waitFor(() => events.find(predicate), { description: 'a matching invocation', ...options }),
    atLeast: (count, predicate, options) =>
      waitFor(
        () => {
          const matching = events.filter(predicate);
          return matching.length >= count ? matching : undefined;
        },
        { description: `${count} matching invocations`, ...options },
      ),
    dispose: unsubscribe,
  };
}
