import { createRequire } from 'node:module';

interface CompiledQuery {
  readonly code: string;
}

type QueryModule = { default: (sql: string) => CompiledQuery };

type Helpers = { stripUndefined: (value: unknown) => unknown; [PATCHED]?: true };

/**
 * `FROM c` as `@zeit/cosmosdb-query` (the Cosmos stand-in's query engine) compiles it: the accumulator
 * is copied once per document, so every query costs the square of the container's size (a COUNT over
 * 20,000 documents copies some 200 million entries, and the stand-in serves nothing else meanwhile).
 */
const QUADRATIC_FROM =
  /\$c\.reduce\(\(\$, (\w+)\) => typeof \1 !== "undefined" \? \[\.\.\.\$, \{\s*(\w+): \1\s*\}\] : \$, \[\]\)/g;

const PATCHED = Symbol.for('phi3-batch.linearQueries');

/** The same expression in linear time: keep the defined documents, wrap each as the engine expects. */
export function linearizeQueryCode(code: string): string {
  return code.replace(
    QUADRATIC_FROM,
    (_match, item: string, alias: string) =>
      `$c.filter((${item}) => typeof ${item} !== "undefined").map((${item}) => ({ ${alias}: ${item} }))`,
  );
}

/**
 * What the engine's `stripUndefined` does (drop `undefined` from arrays and objects, at every level),
 * without its copy of the array per element: it runs on every page of every query, so a page of
 * 10,000 documents cost 50 million element copies.
 */
export function stripUndefinedLinear(value: unknown): unknown {
  if (Array.isArray(value)) {
    const kept: unknown[] = [];
    for (const item of value) if (item !== undefined) kept.push(stripUndefinedLinear(item));
    return kept;
  }
  if (value !== null && typeof value === 'object') {
    const kept: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) if (item !== undefined) kept[key] = stripUndefinedLinear(item);
    return kept;
  }
  return value;
}

/** `require` as the stand-in's own package resolves it (its query engine is its dependency, not ours). */
export function standInRequire(): NodeJS.Require {
  return createRequire(createRequire(import.meta.url).resolve('@vercel/cosmosdb-server'));
}

/** The query engine the stand-in itself loads (resolved from its own package, not ours). */
export function standInQueryModule(): QueryModule {
  return standInRequire()('@zeit/cosmosdb-query') as QueryModule;
}

/** The engine's helpers: the compiled queries and its paging call them through this module object. */
export function standInQueryHelpers(): Helpers {
  const engine = standInRequire();
  return engine(engine.resolve('@zeit/cosmosdb-query/lib/helpers')) as Helpers;
}

/**
 * Makes the stand-in's queries linear in its container's size, results unchanged: its compiled code
 * goes through `linearizeQueryCode` and its result pages through `stripUndefinedLinear`. Only the
 * local stand-in is affected; idempotent.
 */
export function useLinearStandInQueries(): void {
  const helpers = standInQueryHelpers();
  if (helpers[PATCHED] !== true) {
    helpers.stripUndefined = stripUndefinedLinear;
    helpers[PATCHED] = true;
  }
  const queries = standInQueryModule();
  const prototype = Object.getPrototypeOf(queries.default('SELECT * FROM c')) as Record<PropertyKey, unknown>;
  if (prototype[PATCHED] === true) return;
  const original = Object.getOwnPropertyDescriptor(prototype, 'code')?.get;
  if (original === undefined) return;
  Object.defineProperty(prototype, 'code', {
    configurable: true,
    get(this: CompiledQuery) {
      return linearizeQueryCode(original.call(this) as string);
    },
  });
  prototype[PATCHED] = true;
}
