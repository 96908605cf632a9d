import { parsed, rejected, type ParseResult } from './parseResult.js';

/**
 * Limits on a job's tags. At most 16 pairs, as OpenAI allows in a batch's `metadata`. Keys are what a blob
 * metadata name can carry after `tag_` (a C# identifier: letters, digits, `_`), lowercased since blob
 * metadata names are case-insensitive. Values are printable ASCII, since blob metadata travels in HTTP
 * headers, without `,`, so that a CLI list or a report filter can hold several.
 */
export const TAG_LIMITS = { maxTags: 16, maxKeyLength: 64, maxValueLength: 256 } as const;

const KEY_PATTERN = /^[a-z0-9_]+$/;
const VALUE_PATTERN = /^[\x20-\x2b\x2d-\x7e]+$/;

/** Blob metadata names carrying a dropped file's tags: `tag_project=apollo` tags the job `project=apollo`. */
export const TAG_METADATA_PREFIX = 'tag_';

/**
 * Checks and normalises tags (keys lowercased, values kept as given). A bad pair rejects them all with a
 * message naming it: tags decide what a cost report attributes, so none is dropped quietly.
 */
export function parseTags(source: Readonly<Record<string, string>>): ParseResult<Readonly<Record<string, string>>> {
  const entries = Object.entries(source);
  if (entries.length > TAG_LIMITS.maxTags) return rejected(`at most ${TAG_LIMITS.maxTags} tags, got ${entries.length}`);
  const tags: Record<string, string> = {};
  for (const [rawKey, value] of entries) {
    const key = rawKey.toLowerCase();
    if (key.length === 0 || key.length > TAG_LIMITS.maxKeyLength || !KEY_PATTERN.test(key))
      return rejected(
        `tag key ${JSON.stringify(rawKey)}: 1 to ${TAG_LIMITS.maxKeyLength} letters, digits or underscores`,
      );
    if (typeof value !== 'string' || value.length === 0 || value.length > TAG_LIMITS.maxValueLength)
      return rejected(`tag ${key}: the value must be 1 to ${TAG_LIMITS.maxValueLength} characters`);
    if (!VALUE_PATTERN.test(value))
      return rejected(`tag ${key}: the value must be printable ASCII without commas, got ${JSON.stringify(value)}`);
    if (Object.hasOwn(tags, key)) return rejected(`tag key ${key} given twice (keys ignore case)`);
    tags[key] = value;
  }
  return parsed(tags);
}

/** `key=value` (the CLI's `--tag`, a report's filter) as one pair; the value may itself hold `=`. */
export function parseTagPair(text: string): ParseResult<readonly [string, string]> {
  const at = text.indexOf('=');
  if (at <= 0) return rejected(`expected key=value, got ${JSON.stringify(text)}`);
  const checked = parseTags({ [text.slice(0, at)]: text.slice(at + 1) });
  if (!checked.ok) return checked;
  const [pair] = Object.entries(checked.value);
  return parsed(pair!);
}

/** The `tag_<key>` names of a blob's metadata, as tags (other names are not tags). */
export function tagsFromBlobMetadata(metadata: Readonly<Record<string, string>>): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const [name, value] of Object.entries(metadata)) {
    if (name.toLowerCase().startsWith(TAG_METADATA_PREFIX)) tags[name.slice(TAG_METADATA_PREFIX.length)] = value;
  }
  return tags;
}

/** The blob metadata that tags a dropped file (what `phi3-batch submit --tag` sets). */
export function tagsToBlobMetadata(tags: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(tags).map(([key, value]) => [`${TAG_METADATA_PREFIX}${key}`, value]));
}

/** Whether `tags` has every pair of `filter`. */
export function tagsMatch(
  tags: Readonly<Record<string, string>> | undefined,
  filter: Readonly<Record<string, string>>,
): boolean {
  return Object.entries(filter).every(([key, value]) => tags?.[key] === value);
}
