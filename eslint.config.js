// @ts-check
// Lint: typescript-eslint's type-aware rules (docs/decisions/0007-lint-and-format.md). Formatting is Prettier's.
import js from '@eslint/js';
import { readFileSync } from 'node:fs';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** The layers that ship (src/index.ts registers them): the local tooling and the CLI are not theirs to import. */
const APP = ['src/*.ts', 'src/{core,app,adapters,functions,dashboard}/**/*.ts'];

/**
 * The local stack and host, the simulator and the CLI, wherever they live (dev/local, dev/simulator
 * and cli/): any path with such a folder in it.
 */
const DEV_TOOLING = {
  regex: '(^|/)(local|simulator|cli)/',
  message: 'The app does not import the local tooling, the simulator or the CLI: they are not deployed.',
};

/** package.json's dev dependencies: installed for the build, the tests and the tooling, not deployed. */
const devDependencies = Object.keys(
  JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')).devDependencies,
).map((name) => name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
const DEV_DEPENDENCIES = {
  regex: `^(${devDependencies.join('|')})($|/)`,
  message: 'A dev dependency is not deployed: the app must not import it (build steps live in scripts/).',
};

/** Node modules that reach the outside world (files, network, processes, the clock, the environment). */
const NODE_IO = {
  regex:
    '^(node:)?(fs|net|http|https|http2|tls|dgram|dns|child_process|cluster|worker_threads|process|os|readline|timers|perf_hooks)(/.*)?$',
  message: 'src/core is pure: I/O belongs to an adapter behind a port (src/app/ports.ts).',
};

export default defineConfig(
  { ignores: ['dist/', 'coverage/', '.local/', '.deploy/', 'node_modules/'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // Each file is checked with the nearest tsconfig (src/dashboard/browser has its own, with the DOM).
        projectService: { allowDefaultProject: ['vitest.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // tsc reports these already (noUnusedLocals, noUnusedParameters), with `_` for a deliberately unused parameter.
      '@typescript-eslint/no-unused-vars': 'off',
      // An async port method or handler without await still turns a throw into a rejection; dropping
      // `async` to please this rule would make such errors synchronous. Missing awaits are caught by
      // no-floating-promises and no-misused-promises instead.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: {
      // Unions from `as const` objects: a switch over one handles every member or says why not.
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      // `return await` inside try, so that a rejection is caught (and its stack kept) where it is handled.
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
    },
  },
  {
    files: APP,
    rules: {
      'no-restricted-imports': ['error', { patterns: [DEV_TOOLING, DEV_DEPENDENCIES] }],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            DEV_TOOLING,
            DEV_DEPENDENCIES,
            NODE_IO,
            {
              regex: '^(@azure/|@azure-rest/|undici($|/)|openai($|/))',
              message: 'src/core imports no SDK: SDK code lives in src/adapters, behind a port.',
            },
            {
              regex: '^\\.\\./(app|adapters|functions|dashboard)/',
              message: 'src/core depends on nothing above it.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        ...['process', 'setTimeout', 'setInterval', 'setImmediate', 'fetch'].map((name) => ({
          name,
          message: 'src/core is pure: pass values (nowInMs, settings) or ports in.',
        })),
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'src/core takes nowInMs as an argument.' },
        { object: 'performance', property: 'now', message: 'src/core takes nowInMs as an argument.' },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: 'NewExpression[callee.name="Date"][arguments.length=0]',
          message: 'src/core takes nowInMs as an argument.',
        },
      ],
    },
  },
  {
    // Tests and scripts handle untyped JSON from the services they start; the promise rules stay on.
    files: ['test/**/*.ts', 'scripts/**/*.ts', 'vitest.config.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      // Values read back from YAML, Bicep and JSON are `unknown`; a test's String(value) is fine.
      '@typescript-eslint/no-base-to-string': 'off',
      // Conformance suites take port methods off their adapters on purpose (`expect(adapter.method)`).
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    // The local stand-ins are extended by patching their prototypes (the journal, linear queries).
    files: ['dev/local/stack/**/*.ts'],
    rules: {
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-this-alias': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly', Buffer: 'readonly' },
    },
  },
);
