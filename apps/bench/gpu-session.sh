#!/usr/bin/env bash
# One device call: the PyTorch reference and our WebGPU bench on the same GPU, results under $OUT.
# Pack first (on a machine with Node; gldebs/ holds Debian's libegl1, libglvnd0, libglx0, libgl1,
# libx11-6, libx11-xcb1, libx11-data, libxext6, libxcb1, libxau6, libxdmcp6, libbsd0, libmd0 .debs):
#   ../shared/bench/devpack.sh apps/bench/src/gpu.ts ../shared/bench/ref_anatomynet.py apps/bench/gpu-session.sh /tmp/gldebs
# then on the device:  bash .devpack/gpu-session.sh   (carry .devpack)
# Each step has its own timeout and file, so a failure or a timeout keeps what came before.
set -u
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
d=$(cd "$(dirname "$0")" && pwd)
stamp() { echo "[gpu-session $(date +%T)] $*"; }
(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true) > "$OUT/gpu.csv" 2>&1
stamp "gpu: $(tail -n 1 "$OUT/gpu.csv")"
# NVIDIA's Vulkan driver (libGLX_nvidia) refuses to start (VK_ERROR_INITIALIZATION_FAILED at loader
# negotiation) when the X11/EGL client libraries it loads are missing, as on the device image.
if [ -d "$d/gldebs" ]; then
  for f in "$d"/gldebs/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
timeout "${REF_TIMEOUT:-200}" python3 "$d/ref_anatomynet.py" > "$OUT/ref.json" 2> "$OUT/ref.err"
stamp "pytorch reference rc=$? $(tr -d '\n ' < "$OUT/ref.json")"
# the plain whole-volume training step is left to step 5 (recomputed): without it, it needs ~93 GB
timeout "${OURS_TIMEOUT:-330}" bash "$d/run.sh" "$d/bench.mjs" --backend webgpu ${COMPARE_STOCK:+--compare-stock} \
  --train-shapes 64x128x128 --save-tilings "$OUT/tilings.json" --json-out "$OUT/ours.json" > /dev/null 2> "$OUT/ours.err"
stamp "ours rc=$?"
grep -E 'forward|train step|check|voxel sum|failed|Error| out ' "$OUT/ours.err" | head -n 60
if [ -s "$OUT/tilings.json" ] && [ "${NOROBUST_TIMEOUT:-90}" != 0 ]; then
  # the same tuned kernels without Dawn's bounds clamping on buffer accesses
  ANATOMYNET_DAWN_FLAGS=enable-dawn-features=disable_robustness timeout "${NOROBUST_TIMEOUT:-90}" \
    bash "$d/run.sh" "$d/bench.mjs" --backend webgpu --no-check --no-convs --no-train --tilings "$OUT/tilings.json" \
    --shapes 178x302x225 --json-out "$OUT/ours-norobust.json" > /dev/null 2> "$OUT/ours-norobust.err"
  stamp "no-robustness rc=$?"
  grep -E 'forward|train step|failed' "$OUT/ours-norobust.err" | head
fi
if [ -s "$OUT/tilings.json" ] && [ "${RECOMPUTE_TIMEOUT:-120}" != 0 ]; then
  # whole-volume training with each block recomputed in the backward pass (the 24 GB target)
  timeout "${RECOMPUTE_TIMEOUT:-120}" bash "$d/run.sh" "$d/bench.mjs" --backend webgpu --no-check --no-convs --recompute \
    --tilings "$OUT/tilings.json" --shapes "${RECOMPUTE_SHAPES:-64x128x128,178x302x225}" --reps 2 --json-out "$OUT/ours-recompute.json" > /dev/null 2> "$OUT/ours-recompute.err"
  stamp "recompute rc=$?"
  grep -E 'train step|failed' "$OUT/ours-recompute.err" | head
fi
