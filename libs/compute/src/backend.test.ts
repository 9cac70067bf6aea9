import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { BackendUnavailableError, selectBackend } from './backend';
import { describeAdapter, requestDawnAdapter } from './webgpu/dawn';
import { adapterPromise, SKIP_NOTE } from './webgpu/test_util';

const webgpuAdapter = await adapterPromise;

const require = createRequire(import.meta.url);
const resolvable = (name: string) => {
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
};

describe('selectBackend', () => {
  it('ANATOMYNET_BACKEND forces a backend, and the choice is logged and returned', async () => {
    const lines: string[] = [];
    const c = await selectBackend({ env: { ANATOMYNET_BACKEND: 'cpu' }, log: (l) => lines.push(l) });
    expect(c.backend).toBe('cpu');
    expect(c.reason).toMatch(/^forced by ANATOMYNET_BACKEND/);
    expect(c.adapter).toBeUndefined();
    expect(tf.getBackend()).toBe('cpu');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^backend=cpu \(forced by ANATOMYNET_BACKEND/);
    // tfjs's banner asking for tfjs-node is not printed on the first tensor
    const warnings: unknown[] = [];
    const warn = console.warn;
    console.warn = (...a: unknown[]) => void warnings.push(...a);
    try {
      tf.tensor1d([1]).dispose();
    } finally {
      console.warn = warn;
    }
    expect(warnings).toEqual([]);
  });

  it('the prefer option wins over the environment variable', async () => {
    const c = await selectBackend({ prefer: 'wasm', env: { ANATOMYNET_BACKEND: 'cpu' }, log: () => undefined });
    expect(c.backend).toBe('wasm');
    expect(c.reason).toBe('forced by option');
    expect(tf.getBackend()).toBe('wasm');
    expect(await tf.add(tf.tensor1d([1, 2]), tf.tensor1d([3, 4])).data()).toEqual(new Float32Array([4, 6]));
  });

  it('rejects an unknown name with the accepted ones', async () => {
    await expect(selectBackend({ env: { ANATOMYNET_BACKEND: 'tpu' }, log: () => undefined })).rejects.toThrow(
      /ANATOMYNET_BACKEND must be one of tensorflow, webgpu, cpu, wasm/);
  });

  it.skipIf(resolvable('@tensorflow/tfjs-node') || resolvable('@tensorflow/tfjs-node-gpu'))(
    'a forced tensorflow backend that is not installed throws instead of falling through', async () => {
      const err = await selectBackend({ prefer: 'tensorflow', log: () => undefined }).catch((e) => e);
      expect(err).toBeInstanceOf(BackendUnavailableError);
      expect(err.message).toMatch(/tfjs-node-gpu not installed.*tfjs-node not installed/);
    });

  it.skipIf(!webgpuAdapter)(`a forced webgpu backend runs on a device with the adapter's storage buffers per shader stage${webgpuAdapter ? '' : ` (${SKIP_NOTE})`}`, async () => {
    const c = await selectBackend({ prefer: 'webgpu', log: () => undefined });
    expect(c.backend).toBe('webgpu');
    const device = (tf.backend() as unknown as { device: GPUDevice }).device;
    // the limit tfjs-backend-webgpu's own factory leaves at WebGPU's default of 8
    expect(device.limits.maxStorageBuffersPerShaderStage).toBe(c.adapter!.limits.maxStorageBuffersPerShaderStage);
    expect(device.limits.maxStorageBufferBindingSize).toBe(c.adapter!.limits.maxStorageBufferBindingSize);
    await tf.setBackend('cpu');
  });

  it('without an override picks the best available and says why better ones were skipped', async () => {
    const adapter = await requestDawnAdapter();
    const c = await selectBackend({ env: {}, log: () => undefined });
    if (resolvable('@tensorflow/tfjs-node')) return expect(c.backend).toBe('tensorflow');
    expect(c.reason).toMatch(/^best available; skipped tensorflow: /);
    const hardware = adapter && !describeAdapter(adapter).isFallbackAdapter;
    if (hardware) {
      expect(c.backend).toBe('webgpu');
      expect(c.adapter!.vendor.length).toBeGreaterThan(0);
      expect(c.adapter!.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
      expect(c.adapter!.limits.maxComputeWorkgroupsPerDimension).toBeGreaterThanOrEqual(65535);
      expect(c.kernels).toEqual(expect.arrayContaining(['Conv3D', 'Sum', 'Add']));
    } else {
      // No GPU (CI, lavapipe only): the software adapter is passed over for cpu with its own kernels.
      expect(c.backend).toBe('cpu');
      expect(c.reason).toMatch(adapter ? /webgpu: only a software adapter/ : /webgpu: no WebGPU adapter/);
      expect(c.kernels).toEqual(expect.arrayContaining(['Conv3D', 'Conv3DBackpropFilterV2']));
    }
  });
});
