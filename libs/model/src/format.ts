import type { ModelConfig } from './config';
import type { ModelSummary } from './summary';

const mib = (b: number): string => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(2)} GiB` : `${(b / 2 ** 20).toFixed(1)} MiB`);

/**
 * Human-readable table of a summary: one row per module (e.g. `enc1.b0`: its ops, output shape and
 * parameters), then totals and the memory estimates. `detail` lists every op instead.
 */
export function formatSummary(cfg: ModelConfig, s: ModelSummary, detail = false): string {
  const rows: { name: string; ops: string[]; out: number[]; params: number }[] = [];
  for (const op of s.ops) {
    const key = detail ? op.name : op.name.split('.').slice(0, 2).join('.');
    const last = rows[rows.length - 1];
    if (last && last.name === key) {
      last.ops.push(op.op);
      last.out = op.outShape;
      last.params += op.params;
    } else rows.push({ name: key, ops: [op.op], out: op.outShape, params: op.params });
  }
  const nameW = Math.max(6, ...rows.map((r) => r.name.length));
  const opsW = Math.min(60, Math.max(3, ...rows.map((r) => r.ops.join(' ').length)));
  const legend = 'conv3: 3x3x3 conv, /2: stride 2, conv1: 1x1x1 conv, bn/in: batch/instance norm, se<h>: squeeze-excitation with h hidden units, up2: transposed conv k2 s2, cat: channel concat';
  const lines = [
    ...(cfg.description ? [cfg.description, ''] : []),
    `${'module'.padEnd(nameW)}  ${'ops'.padEnd(opsW)}  ${'output [N,D,H,W,C]'.padEnd(22)}  ${'params'.padStart(9)}`,
    `${'input'.padEnd(nameW)}  ${''.padEnd(opsW)}  ${`[${s.inputShape.join(',')}]`.padEnd(22)}  ${'0'.padStart(9)}`,
  ];
  for (const r of rows) {
    lines.push(
      `${r.name.padEnd(nameW)}  ${r.ops.join(' ').slice(0, opsW).padEnd(opsW)}  ${`[${r.out.join(',')}]`.padEnd(22)}  ${r.params.toLocaleString('en-US').padStart(9)}`,
    );
  }
  lines.push(
    '',
    legend,
    `parameters: ${s.paramCount.toLocaleString('en-US')} trainable, ${s.bufferCount.toLocaleString('en-US')} buffers (BatchNorm running statistics)`,
    `weights: ${mib((s.paramCount + s.bufferCount) * 4)} (float32)`,
    `activations, forward (peak, eval mode): ${mib(s.forwardPeakBytes)}`,
    `activations, training step (saved for backward): ${mib(s.trainingBytes)}`,
  );
  return lines.join('\n');
}
