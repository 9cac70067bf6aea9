export * from './backend';
export * from './webgpu';
export * from './cpu';
export { settle, timeBatched, type BatchTiming } from './timing';
