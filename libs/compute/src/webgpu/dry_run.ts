/**
 * A dry run of the webgpu backend: tfjs records every dispatch, allocates and pools its buffers as on
 * a GPU, but the queue submits nothing. The buffer sizes, the pool's reuse and the tensors' lifetimes
 * are those of a real run (they depend on shapes and on the order of ops, never on values), so the
 * GPU memory of a whole-volume training step can be measured on any machine with a WebGPU adapter,
 * lavapipe included, in the time JavaScript takes to record it: a 178x302x225 step that would take
 * an hour on lavapipe is recorded in seconds. (Recorded both ways on lavapipe, training steps
 * request and release the same buffers event for event: at 8x16x32 in dry_run.test.ts, at 32x64x64
 * once by hand, 2,188 events.)
 */
import * as tf from '@tensorflow/tfjs';
import { submitRecorded, type SubmittingBackend } from './program';

interface RecordingBackend extends SubmittingBackend {
  device: GPUDevice;
  queue: GPUQueue;
}

/** What a dry run leaves behind. */
export interface DryRunReport<T> {
  result: T;
  /** Command buffers recorded and dropped. */
  droppedSubmits: number;
  /**
   * The first validation error the device raised meanwhile (WebGPU's error scopes keep only the
   * first). A software adapter's lower limits reject bind groups a GPU accepts (lavapipe binds at
   * most 128 MiB, an H100 2 GiB); the recording goes on, as tfjs never checks.
   */
  validationError?: string;
}

/**
 * Runs `fn` with the webgpu backend's submits dropped (see the module's comment). Work recorded
 * before is submitted first. What `fn` computes is meaningless: values read back are whatever the
 * buffers held, and tensors or variables written inside hold garbage afterwards (an optimizer's
 * in-place update never ran), so use a model made for the dry run. Not reentrant.
 */
export async function withoutGpuExecution<T>(fn: () => Promise<T>): Promise<DryRunReport<T>> {
  if (tf.getBackend() !== 'webgpu') throw new Error(`withoutGpuExecution needs the webgpu backend (active: ${tf.getBackend()})`);
  const backend = tf.backend() as unknown as RecordingBackend;
  submitRecorded(backend);
  await backend.queue.onSubmittedWorkDone();
  const queue = backend.queue;
  const submit = queue.submit;
  let droppedSubmits = 0;
  queue.submit = (buffers: Iterable<GPUCommandBuffer>) => {
    droppedSubmits += [...buffers].length;
  };
  const device = backend.device;
  device.pushErrorScope('validation');
  let result: T;
  let error: GPUError | null;
  try {
    result = await fn();
  } finally {
    // commands recorded inside but not yet submitted are dropped too
    submitRecorded(backend);
    queue.submit = submit;
    error = await device.popErrorScope();
  }
  return { result, droppedSubmits, validationError: error?.message };
}
