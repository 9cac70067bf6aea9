export * from './backend';
export * from './webgpu';
