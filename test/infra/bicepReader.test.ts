import { describe, expect, it } from 'vitest';
import {
  evaluate,
  fileScope,
  getPath,
  isArrayValue,
  isObjectValue,
  moduleScope,
  parseBicep,
  stripComments,
  trace,
  Unresolved,
  type BicepFile,
} from './bicep.js';

const files = new Map<string, BicepFile>();
function load(path: string): BicepFile {
  const file = files.get(path);
  if (!file) throw new Error(`no fixture ${path}`);
  return file;
}
function fixture(path: string, source: string): BicepFile {
  const file = parseBicep(path, source);
  files.set(path, file);
  return file;
}

const main = fixture(
  '/fx/main.bicep',
  `targetScope = 'subscription' // comment after code
@description('A name; // not a comment')
param queueName string = 'jobs'
@secure()
param key string
param enabled bool = false
param count int = 7
/* a block
   comment */
var url = 'https://example.com/path' // the // inside the string stays
var names = [
  queueName
  '\${queueName}-poison'
]
var settings = {
  QUEUE: queueName
  COUNT: string(count)
  FLAG: string(enabled)
  SAFE_FLAG: enabled ? 'true' : 'false'
  'quoted-key': toLower('ABC')
}
module child 'child.bicep' = {
  name: 'child'
  params: {
    prefix: 'pre-\${queueName}'
    settings: settings
  }
}
output childName string = child.outputs.name
`,
);

fixture(
  '/fx/child.bicep',
  `param prefix string
param settings object
var extra = {
  EXTRA: '\${prefix}-x'
}
resource items 'Microsoft.Example/things@2024-01-01' = [for item in ['a', 'b']: {
  name: '\${prefix}-\${item}'
}]
resource config 'Microsoft.Example/config@2024-01-01' = {
  name: 'appsettings'
  properties: union(settings, extra)
}
output name string = '\${prefix}-child'
`,
);

describe('the tolerant Bicep reader', () => {
  it('strips comments but not // inside strings', () => {
    expect(stripComments("var a = 'x//y' // gone")).toBe("var a = 'x//y' ");
    expect(main.vars.get('url')).toBe("'https://example.com/path'");
  });

  it('reads params with and without defaults, and decorators', () => {
    expect(main.targetScope).toBe('subscription');
    expect(main.params.get('queueName')?.defaultExpr).toBe("'jobs'");
    expect(main.params.get('key')).toMatchObject({ defaultExpr: undefined, secure: true });
    expect(main.params.get('queueName')?.decorators).toEqual(["@description('A name; // not a comment')"]);
  });

  it('evaluates identifiers, interpolation, arrays and ARM string() of booleans', () => {
    const scope = fileScope(main, load);
    const names = evaluate('names', scope);
    expect(isArrayValue(names) ? names.items.map((i) => evaluate(i.expr, i.scope)) : names).toEqual([
      'jobs',
      'jobs-poison',
    ]);
    const settings = evaluate('settings', scope);
    expect(isObjectValue(settings)).toBe(true);
    const values = Object.fromEntries(
      isObjectValue(settings) ? settings.entries.map((e) => [e.key, evaluate(e.expr, e.scope)]) : [],
    );
    expect(values).toEqual({ QUEUE: 'jobs', COUNT: '7', FLAG: 'False', SAFE_FLAG: 'false', 'quoted-key': 'abc' });
    expect(evaluate('key', scope)).toBeInstanceOf(Unresolved);
  });

  it('follows module parameters and outputs', () => {
    const scope = fileScope(main, load);
    expect(evaluate('child.outputs.name', scope)).toBe('pre-jobs-child');
    const child = moduleScope(scope, main.modules[0]!);
    const config = child.file.resources.find((r) => r.symbol === 'config')!;
    const merged = evaluate(getPath(config.body, ['properties'])!, child);
    const keys = isObjectValue(merged) ? merged.entries.map((e) => [e.key, evaluate(e.expr, e.scope)]) : [];
    expect(keys).toContainEqual(['QUEUE', 'jobs']);
    expect(keys).toContainEqual(['EXTRA', 'pre-jobs-x']);
    expect(trace('prefix', child)).toMatchObject({ expr: "'pre-${queueName}'" });
  });

  it('reads resource loops', () => {
    const child = load('/fx/child.bicep');
    const items = child.resources.find((r) => r.symbol === 'items')!;
    expect(items.loop).toEqual({ item: 'item', source: "['a', 'b']" });
    expect(getPath(items.body, ['name'])).toBe("'${prefix}-${item}'");
  });

  it('fails loudly on what it cannot read', () => {
    expect(() => parseBicep('/fx/bad.bicep', 'nonsense here')).toThrow(/unexpected statement/);
  });
});
