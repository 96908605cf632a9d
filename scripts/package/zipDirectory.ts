import { createWriteStream, type Stats } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ZipFile } from 'yazl';

/** Decides whether an entry goes into the archive; `relativePath` uses `/`. */
export type ZipFilter = (absolutePath: string, relativePath: string, stats: Stats) => boolean;

export interface ZipDirectoryOptions {
  /** Default: everything. */
  readonly include?: ZipFilter;
}

export interface ZipSummary {
  readonly files: number;
  readonly uncompressedBytes: number;
  readonly compressedBytes: number;
}

interface ZipEntry {
  readonly absolute: string;
  readonly relative: string;
  readonly stats: Stats;
}

// Entries carry a fixed date, so the same tree gives the same archive.
const FIXED_MTIME = new Date(Date.UTC(1980, 0, 1));
const MAX_LINK_DEPTH = 40;

/**
 * Zips a directory the way azd's `rzip.CreateFromDirectory` does: files only (directories are implied by
 * the names), symbolic links resolved to what they point at, paths relative to the root with `/`, in
 * name order.
 */
export async function zipDirectory(
  root: string,
  zipPath: string,
  options: ZipDirectoryOptions = {},
): Promise<ZipSummary> {
  const entries = await listFiles(root, '', 0, options.include);
  const zip = new ZipFile();
  for (const entry of entries) {
    zip.addFile(entry.absolute, entry.relative, { mtime: FIXED_MTIME, mode: 0o100000 | (entry.stats.mode & 0o777) });
  }
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(zipPath));
  return {
    files: entries.length,
    uncompressedBytes: entries.reduce((sum, entry) => sum + entry.stats.size, 0),
    compressedBytes: (await stat(zipPath)).size,
  };
}

async function listFiles(
  dir: string,
  prefix: string,
  depth: number,
  include: ZipFilter | undefined,
): Promise<ZipEntry[]> {
  if (depth > MAX_LINK_DEPTH) throw new Error(`${dir}: too many levels of symbolic links`);
  const children = await readdir(dir, { withFileTypes: true });
  children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const files: ZipEntry[] = [];
  for (const child of children) {
    const absolute = join(dir, child.name);
    const relative = prefix === '' ? child.name : `${prefix}/${child.name}`;
    const stats = await stat(absolute);
    if (include && !include(absolute, relative, stats)) continue;
    if (stats.isDirectory()) {
      files.push(...(await listFiles(absolute, relative, child.isSymbolicLink() ? depth + 1 : depth, include)));
    } else if (stats.isFile()) {
      files.push({ absolute, relative, stats });
    }
  }
  return files;
}
