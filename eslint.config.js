// @ts-check
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const { builtinModules } = require('node:module');

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

module.exports = tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.palyra/**', 'bench/results/**', 'src/console/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
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
    files: ['src/console/static/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: { document: 'readonly', sessionStorage: 'readonly', fetch: 'readonly', Node: 'readonly', setTimeout: 'readonly' },
    },
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
