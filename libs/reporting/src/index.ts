export * from './published';
export * from './png';
export * from './overlay';
