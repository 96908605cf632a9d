import { parsed, rejected, type ParseResult } from './parseResult.js';
import { LineErrorCode, type LineError } from './lineErrors.js';

/**
 * How much of its deployment's budget a job asks for, relative to the other jobs there: a named level
 * (its weight fixed below) or a plain weight (level undefined). Shares follow the weights.
 */
export interface JobPriority {
  readonly level: 'high' | 'normal' | 'low' | undefined;
  readonly weight: number;
}

export const DEFAULT_PRIORITY: JobPriority = { level: 'normal', weight: 4 };

/** The weight of each named level: a high job gets 8 times a normal one's share, a low one a quarter of it. */
export const PRIORITY_LEVELS = {
  high: { level: 'high', weight: 32 },
  normal: DEFAULT_PRIORITY,
  low: { level: 'low', weight: 1 },
} as const satisfies Record<string, JobPriority>;

export type PriorityLevel = keyof typeof PRIORITY_LEVELS;

/** The range of a numeric weight: 1 is a `low` job's, 100 a bit over three `high` jobs'. */
export const PRIORITY_WEIGHT_LIMITS = { min: 1, max: 100 } as const;

/** Blob metadata key of a dropped file's priority, and the batch metadata key of an API batch's. */
export const PRIORITY_METADATA = 'priority';

const WEIGHT_PATTERN = /^[0-9]+$/;

/** `high`, `normal` or `low` (any case), or an integer weight from 1 to 100. */
export function parsePriority(value: string): ParseResult<JobPriority> {
  const text = value.trim();
  const name = text.toLowerCase();
  if (Object.hasOwn(PRIORITY_LEVELS, name)) return parsed(PRIORITY_LEVELS[name as PriorityLevel]);
  if (WEIGHT_PATTERN.test(text)) {
    const weight = Number(text);
    if (weight >= PRIORITY_WEIGHT_LIMITS.min && weight <= PRIORITY_WEIGHT_LIMITS.max)
      return parsed({ level: undefined, weight });
  }
  return rejected(
    `priority ${JSON.stringify(value)} is not high, normal, low or a whole-number weight from ` +
      `${PRIORITY_WEIGHT_LIMITS.min} to ${PRIORITY_WEIGHT_LIMITS.max}`,
  );
}

/** The job's priority, the default when it has none. */
export function priorityOf(job: { readonly priority?: JobPriority | undefined }): JobPriority {
  return job.priority ?? DEFAULT_PRIORITY;
}

/** How the priority is shown: its level, or its weight when it has no level. */
export function describePriority(priority: JobPriority): string {
  return priority.level ?? `weight ${priority.weight}`;
}

/** The priority as the API shows it: the level's name, or the bare weight. */
export function priorityValue(priority: JobPriority): PriorityLevel | number {
  return priority.level ?? priority.weight;
}

/** What a dropped file's metadata gives its job: a priority, or an error that stops it. */
export type PriorityFields =
  { readonly priority?: JobPriority } | { readonly priority?: undefined; readonly refusal: LineError };

/**
 * A dropped file's priority from its blob metadata `priority` (key in any case); absent or blank, the
 * default. A value that cannot be read refuses the job: running a file at a priority nobody asked for
 * would be silently wrong, in either direction.
 */
export function priorityFromBlobMetadata(metadata: Readonly<Record<string, string>>): PriorityFields {
  const key = Object.keys(metadata).find((k) => k.toLowerCase() === PRIORITY_METADATA);
  const text = key === undefined ? undefined : metadata[key];
  if (text === undefined || text.trim() === '') return {};
  const result = parsePriority(text);
  if (result.ok) return { priority: result.value };
  return {
    refusal: {
      code: LineErrorCode.invalidPriority,
      message: `Blob metadata ${result.error}; no line is sent`,
      param: PRIORITY_METADATA,
    },
  };
}
