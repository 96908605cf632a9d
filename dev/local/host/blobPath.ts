import { LocalHostError, LocalHostErrorCode } from './errors.js';

/** A blob trigger `path` such as `uploads/{name}` or `in/{job}/{name}.jsonl`, after %SETTING% resolution. */
export interface BlobPathPattern {
  readonly containerName: string;
  /** Literal text before the first `{`, used as the listing prefix. */
  readonly prefix: string;
  /** Binding data (`name`, ...) for a blob name, or undefined when it does not match. */
  match(blobName: string): Record<string, string> | undefined;
}

export function parseBlobPath(path: string, functionName: string): BlobPathPattern {
  const slash = path.indexOf('/');
  const containerName = slash < 0 ? path : path.slice(0, slash);
  const namePattern = slash < 0 ? '' : path.slice(slash + 1);
  if (!/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(containerName) && containerName !== '$root') {
    throw new LocalHostError(
      LocalHostErrorCode.InvalidBinding,
      `Function "${functionName}": blob path "${path}" does not start with a valid container name.`,
    );
  }
  const names: string[] = [];
  let source = '';
  let index = 0;
  while (index < namePattern.length) {
    const open = namePattern.indexOf('{', index);
    const literalEnd = open < 0 ? namePattern.length : open;
    source += namePattern.slice(index, literalEnd).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    if (open < 0) {
      break;
    }
    const close = namePattern.indexOf('}', open);
    const name = close < 0 ? '' : namePattern.slice(open + 1, close);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new LocalHostError(
        LocalHostErrorCode.InvalidBinding,
        `Function "${functionName}": blob path "${path}" has a bad parameter near "${namePattern.slice(open)}".`,
      );
    }
    names.push(name);
    source += '(.+?)';
    index = close + 1;
  }
  const prefixEnd = namePattern.indexOf('{');
  const prefix = prefixEnd < 0 ? namePattern : namePattern.slice(0, prefixEnd);
  // An empty pattern (just a container) matches every blob in it.
  const pattern = namePattern === '' ? /^(?:.+)$/ : new RegExp(`^${source}$`);
  return {
    containerName,
    prefix,
    match(blobName) {
      const found = pattern.exec(blobName);
      if (!found) {
        return undefined;
      }
      const data: Record<string, string> = {};
      names.forEach((name, i) => {
        data[name] = found[i + 1] ?? '';
      });
      return data;
    },
  };
}
