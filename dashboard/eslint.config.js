import js from '@eslint/js';
import globals from 'globals';
import reactHooks from 'eslint-plugin-react-hooks';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist', 'artifacts', 'node_modules', 'src/lib/api-types.ts'] },
  {
    files: ['**/*.{ts,tsx}'],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    languageOptions: { globals: globals.browser },
    plugins: { 'react-hooks': reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
    },
  },
  {
    // Features must not reach into each other (@/features/other/…, ../../other/…): compose them in src/app.
    // Shared code is imported as @/lib/…, @/components/…, never by climbing out (../../..).
    files: ['src/features/**/*.{ts,tsx}'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { regex: '^\\.\\./\\.\\./(?!\\.\\.)|/features/', message: 'Import from another feature only in src/app.' },
        { regex: '^\\.\\./\\.\\./\\.\\./', message: 'Leave the feature folder by the @/ alias (@/lib/…, @/components/…).' },
      ] }],
    },
  },
  {
    // Outside the features every folder is one level deep: ../ already leaves it.
    files: ['src/*/*.{ts,tsx}'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^\\.\\./', message: 'Import another src folder by the @/ alias (@/lib/…).' }] }],
    },
  },
  {
    files: ['**/*.{js,mjs}', 'scripts/test-all'],
    extends: [js.configs.recommended],
    languageOptions: { globals: globals.node },
  },
);
