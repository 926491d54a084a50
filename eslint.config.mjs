// ESLint flat config (STYLE §7.10, after Temporal's): recommended JS + TS rules, Prettier last.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

const transportAndStorage = ['@mikro-orm/*', 'fastify', '@fastify/*', '@grpc/*', 'pg', 'pg-boss'];

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      'proto/src/gen/**',
      '**/*.generated.ts',
      '**/dist/**',
      '.certfleet/**',
      '.scratch/**',
      'controller/src/storage/migrations/Migration*.ts',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  {
    // Domain logic and shared code stay free of transport and storage imports (STYLE §7.7, §7.10).
    files: ['controller/src/domain/**/*.ts', 'shared/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: transportAndStorage.map((group) => ({
            group: [group],
            message: 'domain/shared code must not import transport or storage libraries',
          })),
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      parserOptions: { projectService: false },
      globals: {
        require: 'readonly',
        module: 'writable',
        process: 'readonly',
        console: 'readonly',
        __dirname: 'readonly',
      },
    },
    rules: { ...tseslint.configs.disableTypeChecked.rules, '@typescript-eslint/no-require-imports': 'off' },
  },
  prettier
);
