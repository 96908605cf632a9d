import { createRequire } from 'node:module';

interface CompiledQuery {
  readonly code: string;
}

type QueryModule = { default: (sql: string) => CompiledQuery };

/**
 * `FROM c` as `@zeit/cosmosdb-query` (the Cosmos stand-in's query engine) compiles it: the accumulator
 * is copied once per document, so every query costs the square of the container's size (3 s for a
 * COUNT over 20,000 documents, and the stand-in serves nothing else meanwhile).
 */
const QUADRATIC_FROM = /\$c\.reduce\(\(\$, (\w+)\) => typeof \1 !== "undefined" \? \[\.\.\.\$, \{\s*(\w+): \1\s*\}\] : \$, \[\]\)/g;

const PATCHED = Symbol.for('phi3-batch.linearQueries');

/** The same expression in linear time: keep the defined documents, wrap each as the engine expects. */
export function linearizeQueryCode(code: string): string {
  return code.replace(QUADRATIC_FROM, (_match, item: string, alias: string) => `$c.filter((${item}) => typeof ${item} !== "undefined").map((${item}) => ({ ${alias}: ${item} }))`);
}

/** The query engine the stand-in itself loads (resolved from its own package, not ours). */
export function standInQueryModule(): QueryModule {
  const fromServer = createRequire(createRequire(import.meta.url).resolve('@vercel/cosmosdb-server'));
  return fromServer('@zeit/cosmosdb-query') as QueryModule;
}

/**
 * Makes the stand-in's queries linear in its container's size, results unchanged: its compiled code
 * goes through `linearizeQueryCode`. Only the local stand-in is affected; idempotent.
 */
export function useLinearStandInQueries(): void {
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
