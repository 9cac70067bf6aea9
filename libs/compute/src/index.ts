export * from './backend';
export * from './webgpu';
export * from './cpu';
