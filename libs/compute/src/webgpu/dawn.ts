/**
 * Dawn (the `webgpu` npm package) as the WebGPU implementation for Node.
 *
 * tfjs-backend-webgpu registers its backend only if `navigator.gpu` exists when the module is first
 * imported, so {@link installDawn} must run before that import (see FACTS.md).
 */

/** What the trainer stores about the WebGPU adapter; limits in bytes or counts as WebGPU reports them. */
export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for software adapters such as lavapipe (Mesa's Vulkan CPU driver). */
  isFallbackAdapter: boolean;
  limits: {
    maxStorageBuffersPerShaderStage: number;
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxComputeWorkgroupsPerDimension: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
  };
  features: string[];
}

let gpu: GPU | undefined;

/**
 * Dawn instance flags from ANATOMYNET_DAWN_FLAGS (whitespace-separated), for example
 * `enable-dawn-features=disable_robustness` to time the kernels without Dawn's bounds clamping.
 */
export function dawnFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.ANATOMYNET_DAWN_FLAGS ?? '').split(/\s+/).filter(Boolean);
}

/**
 * Creates the Dawn instance once and exposes it as `navigator.gpu` with the WebGPU globals
 * (GPUBufferUsage, ...). Returns undefined when the native module cannot load.
 */
export async function installDawn(): Promise<GPU | undefined> {
  if (gpu) return gpu;
  const existing = (globalThis as any).navigator?.gpu as GPU | undefined;
  if (existing) return (gpu = existing);
  let mod: { create: (o: string[]) => GPU; globals: object };
  try {
    mod = (await import('webgpu')) as any;
  } catch {
    return undefined;
  }
  Object.assign(globalThis, mod.globals);
  gpu = mod.create(dawnFlags());
  const nav = (globalThis as any).navigator;
  if (nav && typeof nav === 'object') {
    try {
      Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
    } catch {
      Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
    }
  } else {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  }
  return gpu;
}

/** Requests an adapter through Dawn; undefined when none exists (no Vulkan driver, or Dawn refuses it). */
export async function requestDawnAdapter(): Promise<GPUAdapter | undefined> {
  const g = await installDawn();
  if (!g) return undefined;
  try {
    return (await g.requestAdapter()) ?? undefined;
  } catch {
    return undefined;
  }
}

/** The adapter's identity and the limits this project's kernels depend on. */
export function describeAdapter(adapter: GPUAdapter): AdapterReport {
  const info = adapter.info;
  const l = adapter.limits;
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
    isFallbackAdapter: Boolean((adapter as any).isFallbackAdapter ?? (info as any)?.isFallbackAdapter),
    limits: {
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    },
    features: [...adapter.features].map(String).sort(),
  };
}

/**
 * The device tfjs-backend-webgpu's own backend factory asks for (timestamp queries where offered, the
 * adapter's limits on workgroups and buffer sizes), and the adapter's maxStorageBuffersPerShaderStage
 * as well: WebGPU's default is 8, and this project's kernels that write several tensors in one
 * dispatch bind more where the adapter allows (inplace_updates.ts, four buffers per variable).
 */
export function deviceDescriptor(adapter: GPUAdapter): GPUDeviceDescriptor {
  const l = adapter.limits;
  const keys = ['maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension', 'maxStorageBufferBindingSize', 'maxBufferSize',
    'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup', 'maxStorageBuffersPerShaderStage'] as const;
  return {
    requiredFeatures: adapter.features.has('timestamp-query') ? ['timestamp-query'] : [],
    requiredLimits: Object.fromEntries(keys.map((k) => [k, l[k]])),
  };
}

/**
 * A factory for tfjs's 'webgpu' backend on {@link deviceDescriptor}'s device (tfjs-backend-webgpu's
 * own factory otherwise; its module must be imported first, after {@link installDawn}).
 */
export function webgpuBackendFactory(): () => Promise<object> {
  return async () => {
    const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
    const g = await installDawn();
    const adapter = await g?.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new Error('no WebGPU adapter (Dawn found no Vulkan device)');
    const device = await adapter.requestDevice(deviceDescriptor(adapter));
    return new WebGPUBackend(device, adapter.info);
  };
}
