// @ts-check
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const { builtinModules } = require('node:module');

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

module.exports = tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.palyra/**', 'bench/results/**', 'test-output/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: __dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no Node built-ins, no I/O layers.
    // Activities may be imported as types only (for proxyActivities).
    files: ['src/workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Node built-ins are not allowed in workflow code.' })),
          patterns: [
            {
              group: ['**/activities', '**/activities/**'],
              allowTypeImports: true,
              message: 'Workflows import activities as types only (proxyActivities<typeof ...>).',
            },
            {
              group: [
                'api',
                'cli',
                'ledger',
                'providers',
                'config',
                'console',
                'util',
                'route-planner',
                'price-catalog',
                'composition',
              ].flatMap((layer) => [`**/${layer}`, `**/${layer}/**`]),
              message: 'Workflows may import only src/domain, src/temporal/contracts and @temporalio/workflow.',
            },
            {
              group: ['**/temporal/*', '!**/temporal/contracts'],
              message: 'From src/temporal, workflows may import only the contracts module.',
            },
            {
              group: ['@temporalio/client', '@temporalio/worker', '@temporalio/activity', '@temporalio/testing'],
              message: 'Workflow code uses @temporalio/workflow only.',
            },
          ],
        },
      ],
    },
  },
  {
    // The domain stays pure: no I/O, no Temporal, no Fastify.
    files: ['src/domain/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'src/domain is pure: no Node built-ins.' })),
          patterns: [
            {
              group: [
                '@temporalio/*',
                'fastify*',
                ...[
                  'api',
                  'cli',
                  'ledger',
                  'temporal',
                  'providers',
                  'config',
                  'route-planner',
                  'price-catalog',
                  'activities',
                  'workflows',
                  'composition',
                ].flatMap((layer) => [`**/${layer}`, `**/${layer}/**`]),
              ],
              message: 'src/domain is pure logic.',
            },
          ],
        },
      ],
    },
  },
  {
    // Only src/composition.ts builds the activities; the API, the CLI and the worker bootstrap receive what it built.
    files: ['src/api/**/*.ts', 'src/cli/**/*.ts', 'src/temporal/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/activities', '**/activities/**', '**/workflows', '**/workflows/**'],
              allowTypeImports: true,
              message: 'The API, the CLI and src/temporal reach activities through src/composition.ts, never directly.',
            },
          ],
        },
      ],
    },
  },
  {
    // The console is a browser app (console/tsconfig.json has the DOM types): it reaches the server only over
    // HTTP. It shares the pure vocabulary of src/domain (bundled) and reads the answers' shapes from the API's schemas
    // and the contracts as types only, so no server code reaches the bundle.
    files: ['console/**/*.ts', 'console/**/*.tsx'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'The console runs in the browser: no Node built-ins.' })),
          patterns: [
            {
              regex: '(^|/)src/(?!domain(/|$)|temporal/contracts(/|$)|api/(.+/)?schemas$)',
              message: 'The console talks to the server over HTTP only (console/src/api); of src/ it may import src/domain.',
            },
            {
              regex: '(^|/)src/(temporal/contracts(/|$)|api/(.+/)?schemas$)',
              allowTypeImports: true,
              message: 'The console imports the contracts and the API schemas as types only (import type).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['console/scripts/**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', __dirname: 'readonly', process: 'readonly', console: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['*.js', 'bin/**/*.js'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable', __dirname: 'readonly', process: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
