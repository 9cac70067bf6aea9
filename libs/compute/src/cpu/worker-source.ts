/**
 * Source of the compute worker, run with `new Worker(src, { eval: true })` so it needs no
 * loader or file path. Protocol (Int32Array `ctrl` on a SharedArrayBuffer, see engine.ts):
 * the main thread writes a job, resets `done` and `next`, then bumps `seq`; every thread
 * (main included) takes chunks with Atomics.add on `next` until none are left.
 */
export const WORKER_SOURCE = String.raw`
const { workerData } = require('node:worker_threads');
const { module, memory, ctrl, tid } = workerData;
const exp = new WebAssembly.Instance(module, { env: { memory } }).exports;
const FNS = ['conv3d_fwd', 'conv3d_bwd_input', 'conv3d_bwd_filter'].map((n) => exp[n]);
let seen = 0;
for (;;) {
  Atomics.wait(ctrl, 0, seen);
  seen = Atomics.load(ctrl, 0);
  if (seen < 0) break;
  for (;;) {
    const c = Atomics.add(ctrl, 3, 1);
    if (c >= Atomics.load(ctrl, 2)) break;
    const fn = FNS[ctrl[1]];
    const start = ctrl[10], end = ctrl[11], chunk = ctrl[12];
    const s = start + c * chunk, e = Math.min(end, s + chunk);
    try {
      fn(ctrl[5], ctrl[6], ctrl[7], ctrl[8] + c * ctrl[14], ctrl[9] + tid * ctrl[13], s, e);
    } catch (err) {
      Atomics.store(ctrl, 15, 1);
    }
    if (Atomics.add(ctrl, 4, 1) + 1 === Atomics.load(ctrl, 2)) Atomics.notify(ctrl, 4);
  }
}
`;
