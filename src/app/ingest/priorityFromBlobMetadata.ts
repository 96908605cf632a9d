import type { JobPriority } from '../../core/priority.js';

// PLACEHOLDER for the priority parsing of the job's surface (blob metadata `priority`, the API's
// `metadata.priority`, PATCH): replaced by it when that lands. Reads `high`, `normal`, `low` or a weight 1..100.
const LEVELS: Readonly<Record<string, JobPriority>> = {
  high: { level: 'high', weight: 32 },
  normal: { level: 'normal', weight: 4 },
  low: { level: 'low', weight: 1 },
};

/** The priority a dropped blob asks for in its `priority` metadata; nothing when absent or unreadable (the default applies). */
export function priorityFromBlobMetadata(metadata: Readonly<Record<string, string>>): { priority?: JobPriority } {
  const raw = metadata['priority']?.trim().toLowerCase();
  if (raw === undefined) return {};
  const level = LEVELS[raw];
  if (level !== undefined) return { priority: level };
  const weight = /^[0-9]{1,3}$/.test(raw) ? Number(raw) : NaN;
  return weight >= 1 && weight <= 100 ? { priority: { level: undefined, weight } } : {};
}
