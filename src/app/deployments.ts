import type { TokenCounter } from '../core/chat.js';
import { defaultContextLength, type RequestLimits } from '../core/requestLimits.js';
import type { ChatClient, RateLimiter } from './ports.js';

/** One Phi-3 serverless deployment as the worker uses it: its client, its own budget, its tokenizer. */
export interface Deployment {
  readonly name: string;
  readonly model: string;
  readonly chat: ChatClient;
  readonly limiter: RateLimiter;
  readonly tokenCounter: TokenCounter;
  /** What one call may ask for; absent: the context the model's name implies, and no tokens-per-minute bound. */
  readonly requestLimits?: RequestLimits;
}

/** The deployment's per-call limits, with the defaults its model implies. */
export function requestLimitsOf(deployment: Deployment): RequestLimits {
  return (
    deployment.requestLimits ?? {
      contextLength: defaultContextLength(deployment.model),
      tokensPerMinute: Number.POSITIVE_INFINITY,
    }
  );
}

/**
 * The configured deployments. A job is pinned to one at ingest: one whose model is the model the
 * file asks for (spread over several by job id, e.g. two regions of one model), else the first.
 */
export class Deployments {
  readonly #all: readonly Deployment[];
  readonly #byName: ReadonlyMap<string, Deployment>;

  constructor(all: readonly Deployment[]) {
    if (all.length === 0) throw new Error('At least one deployment is required');
    this.#all = all;
    this.#byName = new Map(all.map((d) => [d.name, d]));
  }

  get all(): readonly Deployment[] {
    return this.#all;
  }

  get primary(): Deployment {
    return this.#all[0]!;
  }

  forJob(requestedModel: string | undefined, jobId: string): Deployment {
    const wanted = requestedModel?.toLowerCase();
    const matching = wanted === undefined ? [] : this.#all.filter((d) => d.model.toLowerCase() === wanted);
    if (matching.length === 0) return this.primary;
    let hash = 0;
    for (const char of jobId) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
    return matching[hash % matching.length]!;
  }

  /** The job's deployment; a name no longer configured falls back to the primary one, so the job still finishes. */
  byName(name: string): Deployment {
    return this.#byName.get(name) ?? this.primary;
  }
}
