// Module hooks: map `./x.js` imports to `./x.ts` when only the TypeScript file exists, and
// transpile .ts files (type information is dropped; `tsc --noEmit` checks types separately).
// Output is cached by content hash so later processes skip loading the compiler at all.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cacheDirectory = join(tmpdir(), 'local-host-ts-loader-cache');
let compiler;

export async function resolve(specifier, context, nextResolve) {
  const parent = context.parentURL;
  if (
    parent?.endsWith('.ts') &&
    specifier.endsWith('.js') &&
    (specifier.startsWith('.') || specifier.startsWith('file:'))
  ) {
    const candidate = new URL(specifier.replace(/\.js$/, '.ts'), parent);
    if (!existsSync(fileURLToPath(new URL(specifier, parent))) && existsSync(fileURLToPath(candidate))) {
      return nextResolve(candidate.href, context);
    }
  }
  return nextResolve(specifier, context);
}

async function transpile(source, fileName) {
  compiler ??= (await import('typescript')).default;
  return compiler.transpileModule(source, {
    fileName,
    compilerOptions: {
      module: compiler.ModuleKind.ESNext,
      target: compiler.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
      inlineSourceMap: true,
    },
  }).outputText;
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) {
    return nextLoad(url, context);
  }
  const fileName = fileURLToPath(url);
  const source = await readFile(fileName, 'utf8');
  const key = createHash('sha256').update(fileName).update('\0').update(source).digest('hex');
  const cached = join(cacheDirectory, `${key}.js`);
  let output;
  try {
    output = await readFile(cached, 'utf8');
  } catch {
    output = await transpile(source, fileName);
    await mkdir(cacheDirectory, { recursive: true });
    // Write then rename so a concurrent process never reads half a file.
    const temporary = `${cached}.${process.pid}.tmp`;
    await writeFile(temporary, output);
    await rename(temporary, cached);
  }
  return { format: 'module', source: output, shortCircuit: true };
}
