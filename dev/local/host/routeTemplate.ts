import { LocalHostError, LocalHostErrorCode } from './errors.js';

/**
 * ASP.NET-style route templates as Functions accepts them: literal segments, `{param}`, `{param?}`,
 * `{param=default}`, `{*catchAll}`, constraints `{id:int}`, `{id:regex(^\d+$)}`, and several parameters
 * in one segment (`{name}.{ext}`). Literals match case-insensitively, like the real host.
 */

interface RouteParameter {
  readonly kind: 'parameter';
  readonly name: string;
  readonly optional: boolean;
  readonly catchAll: boolean;
  readonly defaultValue: string | undefined;
  readonly constraints: readonly Constraint[];
}

interface RouteLiteral {
  readonly kind: 'literal';
  readonly text: string;
}

type RoutePart = RouteParameter | RouteLiteral;

interface RouteSegment {
  readonly parts: readonly RoutePart[];
  readonly pattern: RegExp;
  readonly parameters: readonly RouteParameter[];
}

interface Constraint {
  readonly text: string;
  test(value: string): boolean;
}

export interface CompiledRoute {
  readonly template: string;
  /** Lower sorts first: literal 1, multi-part 2, constrained parameter 3, parameter 4, catch-all 5. */
  readonly precedence: readonly number[];
  /** Decoded parameter values, or undefined when the path does not match. */
  match(path: string): Record<string, string> | undefined;
}

function invalid(template: string, reason: string): LocalHostError {
  return new LocalHostError(LocalHostErrorCode.InvalidRoute, `Route template "${template}" is invalid: ${reason}.`);
}

/** Splits on `sep` outside braces and parentheses. */
function splitOutside(text: string, sep: string): string[] {
  const pieces: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of text) {
    if (char === '{' || char === '(') {
      depth += 1;
    } else if (char === '}' || char === ')') {
      depth -= 1;
    }
    if (char === sep && depth === 0) {
      pieces.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  pieces.push(current);
  return pieces;
}

const guidPattern = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const integerPattern = /^-?\d+$/;

function numberArguments(args: string, count: number, template: string, name: string): number[] {
  const values = args.split(',').map((arg) => Number(arg.trim()));
  if (values.length !== count || values.some((value) => !Number.isFinite(value))) {
    throw invalid(template, `constraint "${name}" expects ${count} numeric argument(s)`);
  }
  return values;
}

function parseConstraint(text: string, template: string): Constraint {
  const match = /^([a-z]+)(?:\((.*)\))?$/is.exec(text);
  if (!match) {
    throw invalid(template, `cannot read constraint "${text}"`);
  }
  const name = (match[1] ?? '').toLowerCase();
  const args = match[2];
  const make = (test: (value: string) => boolean): Constraint => ({ text, test });
  switch (name) {
    case 'int':
      return make((v) => integerPattern.test(v) && Math.abs(Number(v)) <= 2 ** 31);
    case 'long':
      return make((v) => integerPattern.test(v));
    case 'bool':
      return make((v) => /^(true|false)$/i.test(v));
    case 'guid':
      return make((v) => guidPattern.test(v));
    case 'alpha':
      return make((v) => /^[a-z]+$/i.test(v));
    case 'decimal':
    case 'double':
    case 'float':
      return make((v) => v.trim() !== '' && Number.isFinite(Number(v)));
    case 'datetime':
      return make((v) => !Number.isNaN(Date.parse(v)));
    case 'minlength': {
      const [min = 0] = numberArguments(args ?? '', 1, template, name);
      return make((v) => v.length >= min);
    }
    case 'maxlength': {
      const [max = 0] = numberArguments(args ?? '', 1, template, name);
      return make((v) => v.length <= max);
    }
    case 'length': {
      const values = (args ?? '').includes(',')
        ? numberArguments(args ?? '', 2, template, name)
        : numberArguments(args ?? '', 1, template, name);
      const [min = 0, max = min] = values;
      return make((v) => v.length >= min && v.length <= max);
    }
    case 'min': {
      const [min = 0] = numberArguments(args ?? '', 1, template, name);
      return make((v) => integerPattern.test(v) && Number(v) >= min);
    }
    case 'max': {
      const [max = 0] = numberArguments(args ?? '', 1, template, name);
      return make((v) => integerPattern.test(v) && Number(v) <= max);
    }
    case 'range': {
      const [min = 0, max = 0] = numberArguments(args ?? '', 2, template, name);
      return make((v) => integerPattern.test(v) && Number(v) >= min && Number(v) <= max);
    }
    case 'regex': {
      if (args === undefined) {
        throw invalid(template, 'constraint "regex" needs a pattern');
      }
      let pattern: RegExp;
      try {
        // ASP.NET routing escapes braces inside templates by doubling them: {{3}} means {3}.
        pattern = new RegExp(args.replace(/\{\{/g, '{').replace(/\}\}/g, '}'), 'i');
      } catch (error) {
        throw new LocalHostError(
          LocalHostErrorCode.InvalidRoute,
          `Route template "${template}": bad regex "${args}".`,
          {
            cause: error,
          },
        );
      }
      return make((v) => pattern.test(v));
    }
    default:
      throw invalid(template, `unknown constraint "${name}"`);
  }
}

function parseParameter(body: string, template: string): RouteParameter {
  let text = body.trim();
  let catchAll = false;
  if (text.startsWith('**')) {
    catchAll = true;
    text = text.slice(2);
  } else if (text.startsWith('*')) {
    catchAll = true;
    text = text.slice(1);
  }
  let optional = false;
  if (text.endsWith('?')) {
    optional = true;
    text = text.slice(0, -1);
  }
  let defaultValue: string | undefined;
  const pieces = splitOutside(text, ':');
  const last = pieces.length - 1;
  const lastPiece = pieces[last] ?? '';
  const equals = lastPiece.indexOf('=');
  if (equals >= 0 && !lastPiece.slice(0, equals).includes('(')) {
    defaultValue = lastPiece.slice(equals + 1);
    pieces[last] = lastPiece.slice(0, equals);
  }
  const [name = '', ...constraintTexts] = pieces;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw invalid(template, `bad parameter name "${name}"`);
  }
  if (optional && defaultValue !== undefined) {
    throw invalid(template, `parameter "${name}" cannot be optional and have a default`);
  }
  return {
    kind: 'parameter',
    name,
    optional,
    catchAll,
    defaultValue,
    constraints: constraintTexts.map((constraint) => parseConstraint(constraint, template)),
  };
}

function parseSegment(segmentText: string, template: string): RouteSegment {
  const parts: RoutePart[] = [];
  let index = 0;
  while (index < segmentText.length) {
    const open = segmentText.indexOf('{', index);
    if (open < 0) {
      parts.push({ kind: 'literal', text: segmentText.slice(index) });
      break;
    }
    if (open > index) {
      parts.push({ kind: 'literal', text: segmentText.slice(index, open) });
    }
    let depth = 0;
    let close = -1;
    for (let i = open; i < segmentText.length; i += 1) {
      const char = segmentText[i];
      if (char === '{') {
        depth += 1;
      } else if (char === '}') {
        depth -= 1;
        if (depth === 0) {
          close = i;
          break;
        }
      }
    }
    if (close < 0) {
      throw invalid(template, `unclosed "{" in segment "${segmentText}"`);
    }
    parts.push(parseParameter(segmentText.slice(open + 1, close), template));
    index = close + 1;
  }
  const parameters = parts.filter((part): part is RouteParameter => part.kind === 'parameter');
  if (parts.length > 1 && parameters.some((p) => p.optional || p.catchAll)) {
    throw invalid(template, `optional and catch-all parameters must be a whole segment ("${segmentText}")`);
  }
  const source = parts
    .map((part) =>
      part.kind === 'literal' ? part.text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : parts.length > 1 ? '(.+?)' : '(.+)',
    )
    .join('');
  return { parts, parameters, pattern: new RegExp(`^${source}$`, 'i') };
}

function segmentPrecedence(segment: RouteSegment): number {
  const [first] = segment.parts;
  if (segment.parts.length > 1) {
    return 2;
  }
  if (!first || first.kind === 'literal') {
    return 1;
  }
  if (first.catchAll) {
    return 5;
  }
  return first.constraints.length > 0 ? 3 : 4;
}

function decode(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

export function compileRouteTemplate(template: string): CompiledRoute {
  const trimmed = template
    .trim()
    .replace(/^[~/]+/, '')
    .replace(/\/+$/, '');
  const segmentTexts = trimmed === '' ? [] : splitOutside(trimmed, '/');
  const segments = segmentTexts.map((text) => {
    if (text === '') {
      throw invalid(template, 'empty segment');
    }
    return parseSegment(text, template);
  });
  const names = new Set<string>();
  segments.forEach((segment, index) => {
    for (const parameter of segment.parameters) {
      const key = parameter.name.toLowerCase();
      if (names.has(key)) {
        throw invalid(template, `parameter "${parameter.name}" appears twice`);
      }
      names.add(key);
      if (parameter.catchAll && index !== segments.length - 1) {
        throw invalid(template, `catch-all "${parameter.name}" must be the last segment`);
      }
    }
  });
  const firstOptional = segments.findIndex((s) => s.parameters.some((p) => p.optional || p.defaultValue !== undefined));
  if (firstOptional >= 0) {
    for (const segment of segments.slice(firstOptional)) {
      const [part] = segment.parts;
      const omittable =
        part?.kind === 'parameter' && (part.optional || part.defaultValue !== undefined || part.catchAll);
      if (!omittable) {
        throw invalid(template, 'only optional or defaulted parameters may follow an optional one');
      }
    }
  }

  const match = (path: string): Record<string, string> | undefined => {
    const trimmedPath = path.replace(/^\/+/, '').replace(/\/+$/, '');
    const pathSegments = trimmedPath === '' ? [] : trimmedPath.split('/');
    const params: Record<string, string> = {};
    for (let i = 0; i < segments.length; i += 1) {
      const segment = segments[i] as RouteSegment;
      const [onlyPart] = segment.parts;
      if (onlyPart?.kind === 'parameter' && onlyPart.catchAll) {
        const rest = decode(pathSegments.slice(i).join('/'));
        if (rest === undefined) {
          return undefined;
        }
        const value = rest === '' ? onlyPart.defaultValue : rest;
        if (value !== undefined) {
          if (!onlyPart.constraints.every((c) => c.test(value))) {
            return undefined;
          }
          params[onlyPart.name] = value;
        }
        return params;
      }
      const text = pathSegments[i];
      if (text === undefined) {
        if (onlyPart?.kind === 'parameter' && (onlyPart.optional || onlyPart.defaultValue !== undefined)) {
          if (onlyPart.defaultValue !== undefined) {
            params[onlyPart.name] = onlyPart.defaultValue;
          }
          continue;
        }
        return undefined;
      }
      const found = segment.pattern.exec(text);
      if (!found) {
        return undefined;
      }
      for (let p = 0; p < segment.parameters.length; p += 1) {
        const parameter = segment.parameters[p] as RouteParameter;
        const value = decode(found[p + 1] ?? '');
        if (value === undefined || !parameter.constraints.every((c) => c.test(value))) {
          return undefined;
        }
        params[parameter.name] = value;
      }
    }
    return pathSegments.length > segments.length ? undefined : params;
  };

  return { template, precedence: segments.map(segmentPrecedence), match };
}

/** Orders routes so the most specific is tried first (ASP.NET's inbound precedence). */
export function compareRoutePrecedence(a: CompiledRoute, b: CompiledRoute): number {
  const length = Math.max(a.precedence.length, b.precedence.length);
  for (let i = 0; i < length; i += 1) {
    const diff = (a.precedence[i] ?? 6) - (b.precedence[i] ?? 6);
    if (diff !== 0) {
      return diff;
    }
  }
  return a.template.localeCompare(b.template);
}
