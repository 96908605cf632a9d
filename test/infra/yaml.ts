/**
 * Reads the YAML subset azure.yaml uses: nested mappings and scalars (no lists, anchors or
 * multi-line scalars). Enough to check the service and hook definitions.
 */
export type YamlValue = string | YamlMap;
export interface YamlMap {
  readonly [key: string]: YamlValue;
}

function scalar(text: string): string {
  const trimmed = text.trim();
  if ((trimmed.startsWith('"') && trimmed.endsWith('"')) || (trimmed.startsWith("'") && trimmed.endsWith("'"))) {
    return trimmed.slice(1, -1);
  }
  return trimmed;
}

export function parseSimpleYaml(source: string): YamlMap {
  const root: Record<string, YamlValue> = {};
  const stack: Array<{ indent: number; map: Record<string, YamlValue> }> = [{ indent: -1, map: root }];
  for (const rawLine of source.split(/\r?\n/)) {
    if (/^\s*(#.*)?$/.test(rawLine)) continue;
    const indent = rawLine.length - rawLine.trimStart().length;
    const line = rawLine.trim();
    if (line.startsWith('- ')) throw new Error(`YAML lists are not supported here: ${line}`);
    const match = /^([^:]+?):(?:\s+(.*))?$/.exec(line);
    if (!match) throw new Error(`Cannot read YAML line: ${line}`);
    while (stack.length > 1 && stack[stack.length - 1]!.indent >= indent) stack.pop();
    const parent = stack[stack.length - 1]!.map;
    const key = scalar(match[1]!);
    if (match[2] === undefined || match[2] === '') {
      const child: Record<string, YamlValue> = {};
      parent[key] = child;
      stack.push({ indent, map: child });
    } else {
      parent[key] = scalar(match[2]);
    }
  }
  return root;
}

export function yamlPath(value: YamlValue | undefined, ...path: string[]): YamlValue | undefined {
  let current = value;
  for (const key of path) {
    if (current === undefined || typeof current === 'string') return undefined;
    current = current[key];
  }
  return current;
}
