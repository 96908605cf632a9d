import { createWriteStream, type Stats } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { crc32, deflateRaw } from 'node:zlib';

const deflateRawAsync = promisify(deflateRaw);

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

interface CentralEntry {
  readonly name: Buffer;
  readonly crc: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly method: number;
  readonly offset: number;
  readonly mode: number;
}

const MAX_ZIP32 = 0xffff_ffff;
const COMPRESS_AHEAD = 16;
// DOS date 1980-01-01 00:00: entries carry a fixed date so the same tree gives the same bytes.
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

/**
 * Zips a directory the way azd's `rzip.CreateFromDirectory` does: files only (directories are implied by
 * the names), symbolic links resolved to what they point at, paths relative to the root with `/`.
 * Plain zip32 (no zip64): a package past 4 GB is refused rather than written wrong.
 */
export async function zipDirectory(
  root: string,
  zipPath: string,
  options: ZipDirectoryOptions = {},
): Promise<ZipSummary> {
  const out = createWriteStream(zipPath);
  const central: CentralEntry[] = [];
  let offset = 0;
  let uncompressedBytes = 0;
  const write = async (chunk: Buffer): Promise<void> => {
    offset += chunk.length;
    if (!out.write(chunk)) await once(out, 'drain');
  };

  const files: { absolute: string; relative: string; mode: number }[] = [];
  const walk = async (dir: string, prefix: string, depth: number): Promise<void> => {
    if (depth > 40) throw new Error(`${dir}: too many levels of symbolic links`);
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const absolute = join(dir, entry.name);
      const relative = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      const stats = await stat(absolute);
      if (options.include && !options.include(absolute, relative, stats)) continue;
      if (stats.isDirectory()) {
        await walk(absolute, relative, entry.isSymbolicLink() ? depth + 1 : depth);
      } else if (stats.isFile()) {
        files.push({ absolute, relative, mode: stats.mode & 0o777 });
      }
    }
  };

  /** Reads and compresses one file (zlib works on its thread pool, so several run at once). */
  const compress = async (file: (typeof files)[number]) => {
    const data = await readFile(file.absolute);
    const deflated = await deflateRawAsync(data);
    const stored = deflated.length >= data.length;
    return { file, data, body: stored ? data : deflated, method: stored ? 0 : 8 };
  };

  const pending: ReturnType<typeof compress>[] = [];
  try {
    await walk(root, '', 0);
    // Entries are written in order; up to COMPRESS_AHEAD files are read and compressed ahead of the writer.
    let next = 0;
    const fill = () => {
      while (next < files.length && pending.length < COMPRESS_AHEAD) pending.push(compress(files[next++]!));
    };
    fill();
    while (pending.length > 0) {
      const { file, data, body, method } = await pending.shift()!;
      fill();
      if (offset + body.length > MAX_ZIP32 || data.length > MAX_ZIP32) throw new Error(`${zipPath}: larger than 4 GB`);
      const entryInfo: CentralEntry = {
        name: Buffer.from(file.relative, 'utf8'),
        crc: crc32(data),
        compressedSize: body.length,
        size: data.length,
        method,
        offset,
        mode: file.mode,
      };
      central.push(entryInfo);
      uncompressedBytes += data.length;
      await write(localHeader(entryInfo));
      await write(body);
    }
    const centralStart = offset;
    for (const entry of central) await write(centralHeader(entry));
    await write(endOfCentralDirectory(central.length, offset - centralStart, centralStart));
  } catch (error) {
    await Promise.allSettled(pending);
    throw error;
  } finally {
    out.end();
    await once(out, 'close');
  }
  return { files: central.length, uncompressedBytes, compressedBytes: offset };
}

function localHeader(entry: CentralEntry): Buffer {
  const header = Buffer.alloc(30);
  header.writeUInt32LE(0x04034b50, 0);
  header.writeUInt16LE(20, 4); // version needed
  header.writeUInt16LE(0x0800, 6); // UTF-8 names
  header.writeUInt16LE(entry.method, 8);
  header.writeUInt16LE(DOS_TIME, 10);
  header.writeUInt16LE(DOS_DATE, 12);
  header.writeUInt32LE(entry.crc, 14);
  header.writeUInt32LE(entry.compressedSize, 18);
  header.writeUInt32LE(entry.size, 22);
  header.writeUInt16LE(entry.name.length, 26);
  header.writeUInt16LE(0, 28);
  return Buffer.concat([header, entry.name]);
}

function centralHeader(entry: CentralEntry): Buffer {
  const header = Buffer.alloc(46);
  header.writeUInt32LE(0x02014b50, 0);
  header.writeUInt16LE((3 << 8) | 20, 4); // made by Unix, so the mode below is read
  header.writeUInt16LE(20, 6);
  header.writeUInt16LE(0x0800, 8);
  header.writeUInt16LE(entry.method, 10);
  header.writeUInt16LE(DOS_TIME, 12);
  header.writeUInt16LE(DOS_DATE, 14);
  header.writeUInt32LE(entry.crc, 16);
  header.writeUInt32LE(entry.compressedSize, 20);
  header.writeUInt32LE(entry.size, 24);
  header.writeUInt16LE(entry.name.length, 28);
  header.writeUInt32LE(((0o100000 | entry.mode) << 16) >>> 0, 38); // regular file + permissions
  header.writeUInt32LE(entry.offset, 42);
  return Buffer.concat([header, entry.name]);
}

function endOfCentralDirectory(count: number, size: number, start: number): Buffer {
  if (count > 0xffff) throw new Error(`${count} files: more than a zip32 archive can list`);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(count, 8);
  end.writeUInt16LE(count, 10);
  end.writeUInt32LE(size, 12);
  end.writeUInt32LE(start, 16);
  return end;
}
