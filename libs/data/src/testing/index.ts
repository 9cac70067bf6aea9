/** Support for tests and benchmarks of the readers (here and in other libs): `@anatomynet/data/testing`. */
export * from './mutate';
export * from './htj2k';
