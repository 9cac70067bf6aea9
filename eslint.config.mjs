// Lint is mostly about architecture here: apps depend on libs, libs never on apps, no cycles,
// and each scope imports only what its job needs (the report never loads TensorFlow.js).
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

export default [
  { ignores: ['**/node_modules/**', '**/dist/**', '**/.nx/**', '**/*.wasm', '**/generated/**'] },
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      // `const { dropped: _dropped, ...rest } = row` names what it leaves out
      '@typescript-eslint/no-unused-vars': ['warn', { ignoreRestSiblings: true }],
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib'] },
            {
              sourceTag: 'scope:report',
              onlyDependOnLibsWithTags: ['scope:report', 'scope:tracking', 'scope:math', 'scope:shared'],
              bannedExternalImports: ['@tensorflow/*', 'webgpu'],
            },
            {
              sourceTag: 'scope:shared',
              onlyDependOnLibsWithTags: ['scope:shared'],
              bannedExternalImports: ['@tensorflow/*', 'webgpu', 'better-sqlite3', 'dcmjs'],
            },
            {
              sourceTag: 'scope:math',
              onlyDependOnLibsWithTags: ['scope:math'],
              bannedExternalImports: ['@tensorflow/*', 'webgpu', 'better-sqlite3', 'dcmjs'],
            },
            {
              sourceTag: 'scope:data',
              onlyDependOnLibsWithTags: ['scope:data', 'scope:math', 'scope:shared'],
              bannedExternalImports: ['@tensorflow/*', 'webgpu', 'better-sqlite3'],
            },
            {
              sourceTag: 'scope:tracking',
              onlyDependOnLibsWithTags: ['scope:tracking'],
              bannedExternalImports: ['@tensorflow/*', 'webgpu', 'dcmjs'],
            },
          ],
        },
      ],
    },
  },
];
