/**
 * A small, tolerant reader for the Bicep this project writes: enough to check infra against the
 * code without a Bicep compiler. It understands declarations (`param`, `var`, `resource`, `module`,
 * `output`, decorators), object and array literals, strings with `${}` interpolation, comments,
 * and evaluates the handful of expressions the templates use to pass names around (identifiers,
 * literals, interpolation, `string()`, `toLower()`, `union()`, `a ? b : c`, `x.outputs.y`).
 * Anything else evaluates to an `Unresolved` value that remembers its expression.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

// ---------------------------------------------------------------------------------------------
// Scanning
// ---------------------------------------------------------------------------------------------

const OPEN = '([{';
const CLOSE = ')]}';

/** Index just past a single-quoted string (or `'''` string) that starts at `start`. */
function skipString(text: string, start: number): number {
  if (text.startsWith("'''", start)) {
    const end = text.indexOf("'''", start + 3);
    return end < 0 ? text.length : end + 3;
  }
  let i = start + 1;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '\\') {
      i += 2;
      continue;
    }
    if (ch === "'") return i + 1;
    if (ch === '$' && text[i + 1] === '{') {
      i = skipBalanced(text, i + 1);
      continue;
    }
    i += 1;
  }
  return i;
}

/** Index just past the bracket that closes the one at `start`, skipping strings. */
function skipBalanced(text: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === "'") {
      i = skipString(text, i);
      continue;
    }
    if (OPEN.includes(ch)) depth += 1;
    else if (CLOSE.includes(ch)) {
      depth -= 1;
      if (depth === 0) return i + 1;
    }
    i += 1;
  }
  return i;
}

/** Removes `//` and `/* *\/` comments, leaving strings (and the `//` in URLs) alone. */
export function stripComments(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === "'") {
      const end = skipString(text, i);
      out += text.slice(i, end);
      i = end;
    } else if (ch === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i += 1;
    } else if (ch === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end < 0 ? text.length : end + 2;
      out += text.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop;
    } else {
      out += ch;
      i += 1;
    }
  }
  return out;
}

const CONTINUATION = /^\s*(\?\?|\?|:|\.|&&|\|\||==|!=)/;

/**
 * End of the expression starting at `start`: the first newline (or `stop` character) outside
 * brackets and strings, unless the next line continues it with an operator (multi-line ternaries).
 */
function scanExpression(text: string, start: number, stop = ''): number {
  let i = start;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === "'") {
      i = skipString(text, i);
      continue;
    }
    if (OPEN.includes(ch)) {
      i = skipBalanced(text, i);
      continue;
    }
    if (CLOSE.includes(ch) || stop.includes(ch)) return i;
    if (ch === '\n') {
      const rest = text.slice(i + 1);
      const nextLine = rest.match(/^[ \t]*\S.*/)?.[0] ?? '';
      if (nextLine !== '' && CONTINUATION.test(nextLine) && !/^\s*\w+\s*:/.test(nextLine)) {
        i += 1;
        continue;
      }
      return i;
    }
    i += 1;
  }
  return i;
}

/** Splits the inside of `{...}` or `[...]` into items separated by newlines or commas. */
function splitItems(inner: string): string[] {
  const items: string[] = [];
  let i = 0;
  while (i < inner.length) {
    while (i < inner.length && /[\s,]/.test(inner[i]!)) i += 1;
    if (i >= inner.length) break;
    const end = scanExpression(inner, i, ',');
    const item = inner.slice(i, end).trim();
    if (item !== '') items.push(item);
    i = end + 1;
  }
  return items;
}

export interface ObjectEntry {
  readonly key: string;
  readonly expr: string;
}

/** Top-level `key: value` entries of an object literal `{ ... }`. */
export function parseObjectLiteral(text: string): ObjectEntry[] {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{') || !trimmed.endsWith('}'))
    throw new Error(`Not an object literal: ${trimmed.slice(0, 80)}`);
  return splitItems(trimmed.slice(1, -1)).map((item) => {
    const match = /^('(?:[^'\\]|\\.)*'|[A-Za-z_$][\w$]*)\s*:\s*([\s\S]*)$/.exec(item);
    if (!match) throw new Error(`Cannot read object entry: ${item.slice(0, 80)}`);
    const rawKey = match[1]!;
    return { key: rawKey.startsWith("'") ? unquote(rawKey) : rawKey, expr: match[2]!.trim() };
  });
}

/** Items of an array literal `[ ... ]`. */
export function parseArrayLiteral(text: string): string[] {
  const trimmed = text.trim();
  if (!trimmed.startsWith('[') || !trimmed.endsWith(']'))
    throw new Error(`Not an array literal: ${trimmed.slice(0, 80)}`);
  return splitItems(trimmed.slice(1, -1));
}

function unquote(literal: string): string {
  return literal.slice(1, -1).replace(/\\(.)/g, (_all, ch: string) => (ch === 'n' ? '\n' : ch === 't' ? '\t' : ch));
}

/** Value of `path` (e.g. ['properties', 'allowSharedKeyAccess']) inside an object literal, as expression text. */
export function getPath(objectText: string, path: readonly string[]): string | undefined {
  let current = objectText.trim();
  for (const key of path) {
    if (!current.startsWith('{')) return undefined;
    const entry = parseObjectLiteral(current).find((e) => e.key === key);
    if (entry === undefined) return undefined;
    current = entry.expr;
  }
  return current;
}

// ---------------------------------------------------------------------------------------------
// Declarations
// ---------------------------------------------------------------------------------------------

export interface ParamDecl {
  readonly name: string;
  readonly type: string;
  readonly defaultExpr: string | undefined;
  readonly decorators: readonly string[];
  readonly secure: boolean;
}

export interface ResourceDecl {
  readonly symbol: string;
  /** e.g. `Microsoft.Storage/storageAccounts` */
  readonly type: string;
  readonly apiVersion: string;
  readonly existing: boolean;
  readonly condition: string | undefined;
  /** `[for x in xs: ...]` */
  readonly loop: { readonly item: string; readonly source: string } | undefined;
  /** The object literal of the resource (the loop body for a loop). */
  readonly body: string;
}

export interface ModuleDecl {
  readonly symbol: string;
  readonly path: string;
  readonly condition: string | undefined;
  readonly body: string;
  /** The `params: {...}` entries. */
  readonly params: readonly ObjectEntry[];
}

export interface OutputDecl {
  readonly name: string;
  readonly type: string;
  readonly expr: string;
}

export interface BicepFile {
  readonly path: string;
  readonly text: string;
  readonly targetScope: string;
  readonly params: ReadonlyMap<string, ParamDecl>;
  readonly vars: ReadonlyMap<string, string>;
  readonly resources: readonly ResourceDecl[];
  readonly modules: readonly ModuleDecl[];
  readonly outputs: ReadonlyMap<string, OutputDecl>;
}

/** Splits `head = rest` at the first top-level `=` that is not part of `==`, `!=`, `<=`, `>=`, `=~`. */
function splitAssignment(statement: string): { head: string; value: string | undefined } {
  let i = 0;
  while (i < statement.length) {
    const ch = statement[i]!;
    if (ch === "'") {
      i = skipString(statement, i);
      continue;
    }
    if (OPEN.includes(ch)) {
      i = skipBalanced(statement, i);
      continue;
    }
    if (ch === '=' && !'=!<>'.includes(statement[i - 1] ?? '') && !'=~'.includes(statement[i + 1] ?? '')) {
      return { head: statement.slice(0, i).trim(), value: statement.slice(i + 1).trim() };
    }
    i += 1;
  }
  return { head: statement.trim(), value: undefined };
}

/** `if (cond) {...}` / `[for x in xs: {...}]` / `{...}` → the parts. */
function readBody(value: string): { condition: string | undefined; loop: ResourceDecl['loop']; body: string } {
  let rest = value.trim();
  let condition: string | undefined;
  const conditional = /^if\s*\(/.exec(rest);
  if (conditional) {
    const open = rest.indexOf('(');
    const close = skipBalanced(rest, open);
    condition = rest.slice(open + 1, close - 1).trim();
    rest = rest.slice(close).trim();
  }
  const loop = /^\[\s*for\s+(\(?[\w\s,]+\)?)\s+in\s+/.exec(rest);
  if (loop) {
    const afterIn = loop[0].length;
    const colon = scanExpression(rest, afterIn, ':');
    const source = rest.slice(afterIn, colon).trim();
    const body = rest.slice(colon + 1, rest.lastIndexOf(']')).trim();
    return { condition, loop: { item: loop[1]!.trim(), source }, body };
  }
  return { condition, loop: undefined, body: rest };
}

export function parseBicep(path: string, source: string): BicepFile {
  const text = stripComments(source);
  const params = new Map<string, ParamDecl>();
  const vars = new Map<string, string>();
  const resources: ResourceDecl[] = [];
  const modules: ModuleDecl[] = [];
  const outputs = new Map<string, OutputDecl>();
  let targetScope = 'resourceGroup';
  let decorators: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i]!)) i += 1;
    if (i >= text.length) break;
    if (text[i] === '@') {
      const nameEnd = i + 1 + (/^[\w.]+/.exec(text.slice(i + 1))?.[0].length ?? 0);
      const end = text[nameEnd] === '(' ? skipBalanced(text, nameEnd) : nameEnd;
      decorators.push(text.slice(i, end));
      i = end;
      continue;
    }
    const end = scanExpression(text, i);
    const statement = text.slice(i, end).trim();
    i = end + 1;
    const keyword = /^(\w+)/.exec(statement)?.[1];
    const { head, value } = splitAssignment(statement);
    switch (keyword) {
      case 'targetScope':
        targetScope = unquote(value ?? "''");
        break;
      case 'param': {
        const m = /^param\s+(\w+)\s+([\s\S]+)$/.exec(head);
        if (!m) throw new Error(`${path}: cannot read ${statement.slice(0, 80)}`);
        params.set(m[1]!, {
          name: m[1]!,
          type: m[2]!.trim(),
          defaultExpr: value,
          decorators,
          secure: decorators.some((d) => /^@(sys\.)?secure\(/.test(d)),
        });
        break;
      }
      case 'var': {
        const m = /^var\s+(\w+)$/.exec(head);
        if (!m || value === undefined) throw new Error(`${path}: cannot read ${statement.slice(0, 80)}`);
        vars.set(m[1]!, value);
        break;
      }
      case 'output': {
        const m = /^output\s+(\w+)\s+([\s\S]+)$/.exec(head);
        if (!m || value === undefined) throw new Error(`${path}: cannot read ${statement.slice(0, 80)}`);
        outputs.set(m[1]!, { name: m[1]!, type: m[2]!.trim(), expr: value });
        break;
      }
      case 'resource': {
        const m = /^resource\s+(\w+)\s+'([^'@]+)@([^']+)'\s*(existing)?$/.exec(head);
        if (!m || value === undefined) throw new Error(`${path}: cannot read ${statement.slice(0, 80)}`);
        const { condition, loop, body } = readBody(value);
        resources.push({
          symbol: m[1]!,
          type: m[2]!,
          apiVersion: m[3]!,
          existing: m[4] !== undefined,
          condition,
          loop,
          body,
        });
        break;
      }
      case 'module': {
        const m = /^module\s+(\w+)\s+'([^']+)'$/.exec(head);
        if (!m || value === undefined) throw new Error(`${path}: cannot read ${statement.slice(0, 80)}`);
        const { condition, body } = readBody(value);
        const paramsText = getPath(body, ['params']);
        modules.push({
          symbol: m[1]!,
          path: m[2]!,
          condition,
          body,
          params: paramsText === undefined ? [] : parseObjectLiteral(paramsText),
        });
        break;
      }
      case 'metadata':
      case 'import':
      case 'type':
      case 'func':
        break;
      default:
        throw new Error(`${path}: unexpected statement: ${statement.slice(0, 80)}`);
    }
    decorators = [];
  }
  return { path, text, targetScope, params, vars, resources, modules, outputs };
}

export function readBicep(path: string): BicepFile {
  return parseBicep(path, readFileSync(path, 'utf8'));
}

/** The file a module declaration points at (local paths only). */
export function modulePath(from: BicepFile, module: ModuleDecl): string {
  return resolve(dirname(from.path), module.path);
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

export class Unresolved {
  constructor(
    /** The expression that could not be reduced further, in the file where it was met. */
    readonly expr: string,
    readonly file: string,
  ) {}

  toString(): string {
    return `<${this.expr}>`;
  }
}

export interface ObjectValue {
  readonly kind: 'object';
  readonly entries: ReadonlyArray<{ readonly key: string; readonly expr: string; readonly scope: Scope }>;
  /** Parts of a `union()` whose keys are only known at deployment (e.g. built with `toObject()`). */
  readonly dynamic?: readonly Unresolved[];
}

export interface ArrayValue {
  readonly kind: 'array';
  readonly items: ReadonlyArray<{ readonly expr: string; readonly scope: Scope }>;
}

export type Value = string | number | boolean | ObjectValue | ArrayValue | Unresolved;

/** Where an expression is evaluated: a file, and the arguments its caller passed (for modules). */
export interface Scope {
  readonly file: BicepFile;
  /** Module parameters passed by the caller, evaluated in the caller's scope. */
  readonly args: ReadonlyMap<string, { readonly expr: string; readonly scope: Scope }>;
  /** Loads another module's file (for `x.outputs.y`). */
  readonly load: (path: string) => BicepFile;
}

export function fileScope(file: BicepFile, load: (path: string) => BicepFile): Scope {
  return { file, args: new Map(), load };
}

/** The scope of a module's file as called by `module` from `caller`. */
export function moduleScope(caller: Scope, module: ModuleDecl): Scope {
  const file = caller.load(modulePath(caller.file, module));
  return { file, args: new Map(module.params.map((p) => [p.key, { expr: p.expr, scope: caller }])), load: caller.load };
}

export function isObjectValue(value: Value): value is ObjectValue {
  return typeof value === 'object' && !(value instanceof Unresolved) && value.kind === 'object';
}

export function isArrayValue(value: Value): value is ArrayValue {
  return typeof value === 'object' && !(value instanceof Unresolved) && value.kind === 'array';
}

/** Splits a top-level `cond ? a : b`. */
function splitTernary(expr: string): [string, string, string] | undefined {
  let question = -1;
  let depth = 0;
  let i = 0;
  while (i < expr.length) {
    const ch = expr[i]!;
    if (ch === "'") {
      i = skipString(expr, i);
      continue;
    }
    if (OPEN.includes(ch)) {
      i = skipBalanced(expr, i);
      continue;
    }
    if (ch === '?' && expr[i + 1] !== '?' && expr[i - 1] !== '?' && expr[i + 1] !== '.') {
      if (question < 0) question = i;
      depth += 1;
    } else if (ch === ':' && question >= 0) {
      depth -= 1;
      if (depth === 0)
        return [expr.slice(0, question).trim(), expr.slice(question + 1, i).trim(), expr.slice(i + 1).trim()];
    }
    i += 1;
  }
  return undefined;
}

function splitArguments(inner: string): string[] {
  return splitItems(inner.replace(/\n/g, ' '));
}

function armString(value: Value): Value {
  if (typeof value === 'boolean') return value ? 'True' : 'False'; // ARM's string(bool)
  if (typeof value === 'number') return String(value);
  return value;
}

export function evaluate(exprText: string, scope: Scope, depth = 0): Value {
  if (depth > 50) throw new Error(`Expression too deep: ${exprText}`);
  const expr = exprText.trim();
  const next = (e: string, s: Scope = scope): Value => evaluate(e, s, depth + 1);

  if (/^-?\d+$/.test(expr)) return Number(expr);
  if (expr === 'true' || expr === 'false') return expr === 'true';
  if (expr.startsWith('(') && skipBalanced(expr, 0) === expr.length) return next(expr.slice(1, -1));
  if (expr.startsWith("'") && skipString(expr, 0) === expr.length) return evaluateString(expr, scope, depth);
  if (expr.startsWith('{') && skipBalanced(expr, 0) === expr.length) {
    return { kind: 'object', entries: parseObjectLiteral(expr).map((e) => ({ ...e, scope })) };
  }
  if (expr.startsWith('[') && skipBalanced(expr, 0) === expr.length && !/^\[\s*for\s/.test(expr)) {
    return { kind: 'array', items: parseArrayLiteral(expr).map((item) => ({ expr: item, scope })) };
  }
  const ternary = splitTernary(expr);
  if (ternary) {
    const condition = next(ternary[0]);
    if (typeof condition === 'boolean') return next(condition ? ternary[1] : ternary[2]);
    return new Unresolved(expr, scope.file.path);
  }
  const call = /^(\w+)\s*\(/.exec(expr);
  if (call && skipBalanced(expr, call[0].length - 1) === expr.length) {
    const args = splitArguments(expr.slice(call[0].length, -1));
    switch (call[1]) {
      case 'string':
        return args.length === 1 ? armString(next(args[0]!)) : new Unresolved(expr, scope.file.path);
      case 'toLower': {
        const value = next(args[0] ?? "''");
        return typeof value === 'string' ? value.toLowerCase() : new Unresolved(expr, scope.file.path);
      }
      case 'empty': {
        const value = next(args[0] ?? "''");
        return typeof value === 'string' ? value === '' : new Unresolved(expr, scope.file.path);
      }
      case 'union': {
        const values = args.map((a) => next(a));
        if (!values.some(isObjectValue)) return new Unresolved(expr, scope.file.path);
        const merged = new Map<string, ObjectValue['entries'][number]>();
        const dynamic: Unresolved[] = [];
        for (const value of values) {
          if (isObjectValue(value)) {
            for (const entry of value.entries) merged.set(entry.key, entry);
            dynamic.push(...(value.dynamic ?? []));
          } else if (value instanceof Unresolved) {
            dynamic.push(value);
          } else {
            return new Unresolved(expr, scope.file.path);
          }
        }
        return { kind: 'object', entries: [...merged.values()], dynamic };
      }
      default:
        return new Unresolved(expr, scope.file.path);
    }
  }
  const negation = /^!\s*([\s\S]+)$/.exec(expr);
  if (negation) {
    const value = next(negation[1]!);
    return typeof value === 'boolean' ? !value : new Unresolved(expr, scope.file.path);
  }
  const equality = /^([\s\S]+?)\s*(==|!=)\s*([\s\S]+)$/.exec(expr);
  if (equality && !expr.includes('?')) {
    const left = next(equality[1]!);
    const right = next(equality[3]!);
    if (
      (typeof left === 'string' || typeof left === 'number') &&
      (typeof right === 'string' || typeof right === 'number')
    ) {
      return equality[2] === '==' ? left === right : left !== right;
    }
    return new Unresolved(expr, scope.file.path);
  }
  if (/^[A-Za-z_]\w*$/.test(expr)) return evaluateIdentifier(expr, scope, depth);
  // `module.outputs.name`: evaluate the output inside the module, with the module's arguments.
  const output = /^(\w+)\.outputs\.(\w+)$/.exec(expr);
  if (output) {
    const module = scope.file.modules.find((m) => m.symbol === output[1]);
    if (module) {
      const inner = moduleScope(scope, module);
      const decl = inner.file.outputs.get(output[2]!);
      if (decl === undefined) throw new Error(`${scope.file.path}: module ${module.symbol} has no output ${output[2]}`);
      return next(decl.expr, inner);
    }
  }
  // `resource.name`: the name the resource is declared with.
  const resourceName = /^(\w+)\.name$/.exec(expr);
  const namedResource = resourceName
    ? scope.file.resources.find((r) => r.symbol === resourceName[1] && r.loop === undefined)
    : undefined;
  if (namedResource) {
    const nameExpr = getPath(namedResource.body, ['name']);
    if (nameExpr !== undefined) return next(nameExpr);
  }
  // `item.key.key`: member access on an object value (a loop item, a variable).
  const member = /^([A-Za-z_]\w*)((?:\.\w+)+)$/.exec(expr);
  if (member && !scope.file.resources.some((r) => r.symbol === member[1])) {
    let value = evaluateIdentifier(member[1]!, scope, depth);
    for (const key of member[2]!.slice(1).split('.')) {
      if (!isObjectValue(value)) return new Unresolved(expr, scope.file.path);
      const entry = value.entries.find((e) => e.key === key);
      if (entry === undefined) return new Unresolved(expr, scope.file.path);
      value = evaluate(entry.expr, entry.scope, depth + 1);
    }
    return value;
  }
  return new Unresolved(expr, scope.file.path);
}

/** A scope in which a resource loop's item variable is bound to one item of its source. */
export function loopItemScope(
  scope: Scope,
  itemName: string,
  item: { readonly expr: string; readonly scope: Scope },
): Scope {
  const args = new Map(scope.args);
  args.set(itemName, item);
  return { ...scope, args };
}

function evaluateIdentifier(name: string, scope: Scope, depth: number): Value {
  const arg = scope.args.get(name);
  if (arg !== undefined) return evaluate(arg.expr, arg.scope, depth + 1);
  const param = scope.file.params.get(name);
  if (param !== undefined) {
    return param.defaultExpr === undefined
      ? new Unresolved(name, scope.file.path)
      : evaluate(param.defaultExpr, scope, depth + 1);
  }
  const variable = scope.file.vars.get(name);
  if (variable !== undefined) return evaluate(variable, scope, depth + 1);
  return new Unresolved(name, scope.file.path);
}

function evaluateString(literal: string, scope: Scope, depth: number): Value {
  if (literal.startsWith("'''")) return literal.slice(3, -3);
  const body = literal.slice(1, -1);
  let out = '';
  let i = 0;
  while (i < body.length) {
    const ch = body[i]!;
    if (ch === '\\') {
      const escaped = body[i + 1] ?? '';
      out += escaped === 'n' ? '\n' : escaped === 't' ? '\t' : escaped;
      i += 2;
    } else if (ch === '$' && body[i + 1] === '{') {
      const end = skipBalanced(body, i + 1);
      const value = armString(evaluate(body.slice(i + 2, end - 1), scope, depth + 1));
      if (typeof value !== 'string') return new Unresolved(literal, scope.file.path);
      out += value;
      i = end;
    } else {
      out += ch;
      i += 1;
    }
  }
  return out;
}

/**
 * Follows an expression through identifiers (module arguments, parameters without a default in
 * scope, variables) to the expression that finally produces it, e.g. `identity.outputs.clientId`
 * in main.bicep. Useful to check that two settings come from the same resource.
 */
export function trace(
  exprText: string,
  scope: Scope,
  options: { readonly followDefaults?: boolean } = {},
): { expr: string; scope: Scope } {
  const followDefaults = options.followDefaults ?? true;
  let expr = exprText.trim();
  let current = scope;
  for (let step = 0; step < 50; step += 1) {
    if (!/^[A-Za-z_]\w*$/.test(expr)) break;
    const arg = current.args.get(expr);
    if (arg !== undefined) {
      expr = arg.expr.trim();
      current = arg.scope;
      continue;
    }
    const variable = current.file.vars.get(expr);
    if (variable !== undefined) {
      expr = variable.trim();
      continue;
    }
    const param = current.file.params.get(expr);
    if (followDefaults && param?.defaultExpr !== undefined) {
      expr = param.defaultExpr.trim();
      continue;
    }
    break;
  }
  return { expr, scope: current };
}
