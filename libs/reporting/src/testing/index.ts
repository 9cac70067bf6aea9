export * from './fixtures';
export * from './fake-dataset';
