import { BadRequestError } from '../errors.js';

/** OpenAI's limits on a batch's `metadata`: 16 pairs, keys up to 64 characters, values up to 512. */
export const METADATA_LIMITS = { maxPairs: 16, maxKeyLength: 64, maxValueLength: 512 } as const;

/** Checks a request's `metadata` as OpenAI does; null and absent mean none. */
export function parseBatchMetadata(value: unknown): Readonly<Record<string, string>> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new BadRequestError('Invalid metadata: expected an object of string keys and string values', 'metadata');
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > METADATA_LIMITS.maxPairs) {
    throw new BadRequestError(
      `Invalid metadata: at most ${METADATA_LIMITS.maxPairs} pairs, got ${entries.length}`,
      'metadata',
    );
  }
  const metadata: Record<string, string> = {};
  for (const [key, item] of entries) {
    if (key.length === 0 || key.length > METADATA_LIMITS.maxKeyLength) {
      throw new BadRequestError(
        `Invalid metadata key: keys are 1 to ${METADATA_LIMITS.maxKeyLength} characters`,
        'metadata',
      );
    }
    if (typeof item !== 'string')
      throw new BadRequestError(`Invalid metadata value for ${JSON.stringify(key)}: expected a string`, 'metadata');
    if (item.length > METADATA_LIMITS.maxValueLength) {
      throw new BadRequestError(
        `Invalid metadata value for ${JSON.stringify(key)}: at most ${METADATA_LIMITS.maxValueLength} characters`,
        'metadata',
      );
    }
    metadata[key] = item;
  }
  return metadata;
}

/** Whether the job's metadata has every pair of `filter`. */
export function metadataMatches(
  metadata: Readonly<Record<string, string>> | undefined,
  filter: Readonly<Record<string, string>>,
): boolean {
  return Object.entries(filter).every(([key, value]) => metadata?.[key] === value);
}
