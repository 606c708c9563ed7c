/**
 * ESLint for the whole repository (`npm run lint`; scripts/test.sh runs it before jest, so a lint
 * error fails CI). TypeScript is linted with type information, from tsconfig.test.json so the
 * tests and benches are covered too. Formatting is Prettier's (.prettierrc.yaml), not ESLint's.
 */
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'coverage/', '.bench/'] },
  // A disable comment that no longer suppresses anything is an error: exceptions stay few and current.
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Kept on by name (recommendedTypeChecked has them too) because they guard this code base's
      // costly bugs: a promise nobody awaits is a socket or browser left open after the probe's
      // deadline, or an unhandled rejection that ends the process. `void promise` with a comment
      // saying why is the way to mean "on purpose".
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',

      // Off: an `async` function with no `await` is how this code implements a Promise-returning
      // contract (a prober's load/probe/close, the test doubles of them), and `async` also turns a
      // synchronous throw into a rejection, which the probe runtime relies on to map failures.
      // Promises misused or not awaited are what matter, and the two rules above catch those.
      '@typescript-eslint/require-await': 'off',

      // Tuned: rejecting with `signal.reason` (typed `any`; always an Error here: the deadline's
      // and the client's aborts pass one, a bare abort() gives an AbortError) is the AbortSignal
      // contract, and passing on a caught `unknown` is a rethrow. A literal non-Error is still an
      // error. These are the defaults typescript-eslint already gives only-throw-error.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],

      // Tuned to TypeScript's own noUnusedParameters/noUnusedLocals conventions: a parameter
      // named `_x` is unused on purpose (Express tells an error handler by its four parameters),
      // and `const { host: _host, ...rest } = x` is how a key is left out of a copy.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', ignoreRestSiblings: true }],

      // Tuned: re2js is required synchronously on the first config regex (src/config/regexp.ts),
      // not imported at the top: its Unicode tables are 0.5 MiB of heap a config without a regex
      // never needs, and the config is checked synchronously, so `await import()` cannot do it.
      '@typescript-eslint/no-require-imports': ['error', { allow: ['^re2js$'] }],
    },
  },
  {
    // A browser journey's script is the user's CommonJS file, loaded afresh at every probe (its
    // require.cache entry deleted first) so an edit needs no reload; import() would cache it for
    // good. The require there is the point.
    files: ['exporters/browser/journey-files.ts'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // jest.config.js and scripts/bundle.js: CommonJS run by Node, outside the TypeScript project.
    files: ['**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
  },
);
