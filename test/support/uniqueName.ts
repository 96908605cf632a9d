import { randomBytes } from 'node:crypto';

let counter = 0;

/**
 * A name valid for a storage container or queue (lower-case letters, digits, single dashes, 3-63 chars),
 * unique per call in this process and across processes.
 */
export function uniqueName(prefix = 't'): string {
  counter += 1;
  const base =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '') || 't';
  const suffix = `${process.pid.toString(36)}-${counter.toString(36)}-${randomBytes(3).toString('hex')}`;
  return `${base.slice(0, 63 - suffix.length - 1)}-${suffix}`;
}
