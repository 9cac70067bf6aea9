#!/usr/bin/env bash
# One device call: the PyTorch reference and our WebGPU bench on the same GPU, results under $OUT.
# Pack first, on a machine with Node and apt:  bash apps/bench/gpu-pack.sh  (it adds gldebs/, Debian's
# libegl1, libglvnd0, libglx0, libgl1, libx11-6, libx11-xcb1, libx11-data, libxext6, libxcb1, libxau6,
# libxdmcp6, libbsd0, libmd0 .debs)
# then on the device:  bash .devpack/gpu-session.sh   (carry .devpack; at most DEADLINE = 570 s, below)
# Each step has its own timeout and file, so a failure or a timeout keeps what came before.
set -u
START=$(date +%s)
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
d=$(cd "$(dirname "$0")" && pwd)
stamp() { echo "[gpu-session $(date +%T)] $*"; }
# The device returns at most eight files (2026-11-28: the rest of call 1 was lost), so everything so
# far goes into all.tgz after each step, written aside and renamed so a timeout leaves a whole one.
# (tar exits 1 when a file changed while read, as its own archive in $OUT does: still a whole archive)
pack() {
  tar czf "$OUT/.all.tgz.part" -C "$OUT" --warning=no-file-changed --exclude=all.tgz --exclude=.all.tgz.part --exclude='*.cpuprofile' .
  [ $? -le 1 ] && mv "$OUT/.all.tgz.part" "$OUT/all.tgz"
}
(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true) > "$OUT/gpu.csv" 2>&1
stamp "gpu: $(tail -n 1 "$OUT/gpu.csv")"
# NVIDIA's Vulkan driver (libGLX_nvidia) refuses to start (VK_ERROR_INITIALIZATION_FAILED at loader
# negotiation) when the X11/EGL client libraries it loads are missing, as on the device image.
if [ -d "$d/gldebs" ]; then
  for f in "$d"/gldebs/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
timeout "${REF_TIMEOUT:-70}" python3 "$d/ref_anatomynet.py" > "$OUT/ref.json" 2> "$OUT/ref.err"
stamp "pytorch reference rc=$? $(tr -d '\n' < "$OUT/ref.json")"
B="$d/run.sh $d/bench.mjs --backend webgpu"
# Tilings tuned on an H100 before (2026-11-28, packed by gpu-pack.sh) skip most of the tuning (186 s)
# on a Hopper GPU (H100, or the H200 the device machine became on 2026-11-28: the same GH100 chip,
# SM count and workgroup memory, with faster memory): only what they lack is tuned, the Winograd
# kernels (sessions 19 and 20: forward, dx and dW of the stride-1 3x3x3 convs) against each class's
# H100 winner (--tune-kinds), and every candidate of the classes the file lacks (the upsampling's
# gradient since session 18): TUNE_NEW, TUNE_PASSES, TUNE_KINDS; any other GPU, or RETUNE=1, tunes
# every conv. These are timed at the whole volume (TUNE_SHAPE), the size of the targets: the
# Winograd kernels' chunks, memory traffic and occupancy there, not at 64x128x128's quarter size.
# TUNE_BUDGET: seconds of tuning, after which the classes not yet begun keep their loaded (or untuned)
# tilings, so that the forward and training step below are measured within OURS_TIMEOUT whatever the
# tuning at the whole volume costs (session 17 tuned 1,107 candidates in 208 s at 64x128x128)
tune="--save-tilings $OUT/tilings.json --tune-budget-s ${TUNE_BUDGET:-180}"
if [ -z "${RETUNE:-}" ] && [ -s "$d/tilings-h100.json" ] && grep -qE 'H100|H200' "$OUT/gpu.csv"; then
  cp "$d/tilings-h100.json" "$OUT/tilings.json"
  new=${TUNE_NEW:-^(enc|dec|out|upsampling)} passes=${TUNE_PASSES:-forward,dx,dw} kinds=${TUNE_KINDS:-winograd}
  shape=${TUNE_SHAPE:-178x302x225}
  tune="--tilings $d/tilings-h100.json --tune-filter $new --tune-passes $passes --tune-kinds $kinds --tune-shape $shape $tune"
  stamp "Hopper: H100 tilings of 2026-11-28, tuning $passes of $new ($kinds against the H100 winners) at $shape"
fi
# check against tfjs-cpu, tune every conv unless given the tilings (GPU timestamps; since session 15 also
# the direct dW tilings and the fastest GEMM tiling with prefetch, since session 16 the packed B slab,
# the untuned tiling and 20 ms of warm-up per candidate: 300 s, was 260), re-check, per-conv figures at
# 64x128x128, the memory-bound passes (concat, split, SE end, upsampling, norm: ms and GB/s, since
# session 23) at the whole volume, forward at both sizes, training step at 64x128x128 (whole-volume
# training: below)
timeout "${OURS_TIMEOUT:-300}" bash $B --shapes 64x128x128,178x302x225 --conv-shapes 64x128x128 --pass-shapes 178x302x225 \
  --train-shapes 64x128x128 ${COMPARE_STOCK:+--compare-stock} $tune \
  --json-out "$OUT/ours.json" > /dev/null 2> "$OUT/ours.err"
stamp "ours rc=$?"
pack
grep -E ' out |forward|train step|check|voxel sum|pass |dispatch cost|failed|Error| tune ' "$OUT/ours.err" | grep -v kernels | cut -c1-220 | head -n 100
# The optional steps below, most telling first; each runs only if its timeout still ends before
# DEADLINE seconds from the start (default 570: one device call may last 600 s), else it says so.
fits() {
  local left=$(( ${DEADLINE:-570} - ($(date +%s) - START) ))
  [ "$1" != 0 ] && [ -s "$OUT/tilings.json" ] && [ "$left" -ge "$1" ] && return 0
  stamp "skipped $2 (timeout $1 s, $left s left, or no tuned tilings)"; return 1
}
# The segments whose activations the whole-volume training step keeps (the rest is recomputed in the
# backward pass): recomputing the decoder's and the output's saves no memory, enc3's 1.3 GB
# (apps/bench/src/memory.ts: 20.2 GB allocated at most, best fit, in session 18; 17.8 GB in session
# 24, 15.4 in session 25)
KEEP=${KEEP:-out,dec0.b0,dec1.b0,dec2.b0,enc3.b0}
# 'more' keeps enc2 and enc1 as well, 'none' recomputes nothing: less work, more memory (predicted in
# session 25 with the H100's tilings: KEEP 15.4 GB, 'more' 17.6, 'none' 18.4 of the target's 24), so
# which of them stays within 24 GB on the GPU decides what the trainer advises
KEEP_MORE=${KEEP_MORE:-$KEEP,enc2.b0,enc1.b0}
# whole-volume training step, nothing recomputed, the buffer pool bounded after each step and served
# best fit ('none', the trainer's defaults: the fastest step, and since session 25 18.4 GB recorded,
# so first, with the tensor peak and kernel profile); blocks recomputed in the backward pass but those
# of KEEP ('bound', the trainer's --recompute --keep-segments KEEP); every segment recomputed ('all', the trainer's
# --recompute: 0.81 s and 34.3 GB on 2026-11-28, before best fit and the strided upsampling gradient);
# enc2 and enc1 kept too ('more', KEEP_MORE); nothing recomputed within a
# budget of BUDGET_GB (default 16.5; 'budget', the trainer's --gpu-memory-gb: 16.6 GB recorded in
# session 25 against none's 18.4, 80 buffers, 4.2 GB, created anew a step: what that costs);
# tfjs's exact sizes ('exact', --no-gpu-best-fit: its peak against bound's and the prediction above);
# capped at 0 GiB ('cap0', --gpu-pool-gb 0), kept ('keep'), and kept with Dawn's lazy
# zero-initialisation of new buffers off ('noclear'). 'nowino' is 'none' on the H100's tilings
# alone, on a Hopper GPU: the whole-volume forward and step without the Winograd winners tuned
# above, by the wall clock (the tuner times GPU kernels only, not JavaScript recording the chunks).
# 'keep' also shows where the step's CPU time goes: its timed steps run under V8's sampling
# profiler (their time includes the sampler's small overhead), and only the summary comes back
# Each step's device memory as the driver sees it (nvidia-smi every 100 ms, the most used): tfjs
# counts the buffers it holds, not what Dawn and the driver add, nor the buffers destroyed while the
# GPU still runs work that reads them ('budget' destroys some within the step), whose memory returns
# only once that work is done
smi_start() { command -v nvidia-smi > /dev/null && { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$OUT/smi-$1.csv" 2> /dev/null & echo $! > "$OUT/.smi.pid"; }; }
smi_stop() {
  [ -f "$OUT/.smi.pid" ] && kill "$(cat "$OUT/.smi.pid")" 2> /dev/null; rm -f "$OUT/.smi.pid"
  [ -s "$OUT/smi-$1.csv" ] && echo "device memory used at most $(sort -n "$OUT/smi-$1.csv" | tail -n 1) MiB (nvidia-smi)"
}
recompute() {
  local v=$1 flags="--no-bound-pool --no-train-profile" envs="" limit=${RECOMPUTE_TIMEOUT:-45} keep="--keep-segments $KEEP" tilings="$OUT/tilings.json"
  local rec=--recompute
  [ $v = bound ] && flags="--bound-pool --no-train-profile" && limit=$((limit + 15))
  [ $v = nowino ] && flags="--bound-pool --no-train-profile" && keep="" && rec=--no-recompute && tilings="$d/tilings-h100.json" && limit=$((limit + 15))
  [ $v = all ] && flags="--bound-pool --no-train-profile" && keep="" && limit=$((limit + 15))
  [ $v = more ] && flags="--bound-pool --no-train-profile" && keep="--keep-segments $KEEP_MORE" && limit=$((limit + 15))
  [ $v = none ] && flags="--bound-pool" && keep="" && rec=--no-recompute && limit=$((limit + 30))
  [ $v = budget ] && flags="--bound-pool --no-train-profile --memory-budget-gb ${BUDGET_GB:-16.5}" && keep="" && rec=--no-recompute && limit=$((limit + 15))
  [ $v = exact ] && flags="--bound-pool --no-best-fit --no-train-profile" && limit=$((limit + 15))
  [ $v = noclear ] && envs="ANATOMYNET_DAWN_FLAGS=disable-dawn-features=lazy_clear_resource_on_first_use"
  [ $v = cap0 ] && flags="--pool-cap-gb 0 --no-train-profile"
  [ $v = keep ] && [ -f "$d/cpuprof-summary.mjs" ] && flags="$flags --cpu-profile $OUT/step.cpuprofile"
  [ "${RECOMPUTE_TIMEOUT:-45}" = 0 ] && limit=0
  fits "$limit" "recompute $v" || return 0
  smi_start $v
  env $envs timeout "$limit" bash $B --no-check --no-convs $rec $keep --tilings "$tilings" \
    --shapes 178x302x225 --reps 2 $flags --json-out "$OUT/recompute-$v.json" > /dev/null 2> "$OUT/recompute-$v.err"
  local rc=$?
  stamp "recompute $v rc=$rc $(grep -E 'forward|train step|failed' "$OUT/recompute-$v.err" | grep -v kernels | cut -c1-200 | tr '\n' ' ') $(smi_stop $v)"
  pack
}
recompute none
recompute bound
case "$tune" in *tilings-h100.json*) recompute nowino ;; esac
# GPU memory of the whole-volume step predicted on this device without running it (bench:memory:
# the same allocations as a run, replayed without submitting), to set beside the measured peaks
if fits "${MEMORY_TIMEOUT:-60}" "memory prediction"; then
  timeout "${MEMORY_TIMEOUT:-60}" bash "$d/run.sh" "$d/memory.mjs" --tilings "$OUT/tilings.json" --pools best-fit,exact \
    --keep-segments "$KEEP" > "$OUT/memory-keep.json" 2> "$OUT/memory.err"
  timeout "${MEMORY_TIMEOUT:-60}" bash "$d/run.sh" "$d/memory.mjs" --tilings "$OUT/tilings.json" --pools best-fit \
    > "$OUT/memory-all.json" 2>> "$OUT/memory.err"
  timeout "${MEMORY_TIMEOUT:-60}" bash "$d/run.sh" "$d/memory.mjs" --tilings "$OUT/tilings.json" --pools best-fit \
    --keep-segments "$KEEP_MORE" > "$OUT/memory-more.json" 2>> "$OUT/memory.err"
  timeout "${MEMORY_TIMEOUT:-60}" bash "$d/run.sh" "$d/memory.mjs" --tilings "$OUT/tilings.json" --pools best-fit \
    --no-recompute > "$OUT/memory-none.json" 2>> "$OUT/memory.err"
  stamp "memory prediction rc=$? $(grep -E '178x' "$OUT/memory.err" | cut -c1-150 | tr '\n' ' ')"
fi
recompute more
recompute budget
recompute all
recompute exact
# A/B of this project's kernels under its own names (optimizer update, LeakyRelu gradient, norm,
# and the fused conv, residual sum and SE gate, which training uses too since session 14; since
# session 15 the SE backward's and the eval forward's upsampling and SE-residual kernels): the same
# 64x128x128 forward and training step on tfjs's composed ops (tuned tilings, no checks)
if fits "${NOFUSED_TIMEOUT:-50}" "composed ops"; then
  timeout "${NOFUSED_TIMEOUT:-50}" bash $B --no-check --no-convs --tilings "$OUT/tilings.json" --shapes 64x128x128 \
    --no-own-fused --json-out "$OUT/nofused.json" > /dev/null 2> "$OUT/nofused.err"
  stamp "composed ops rc=$? $(grep -E 'train step|failed' "$OUT/nofused.err" | cut -c1-200)"
fi
# A/B of Dawn's safety work inside every shader: bounds clamping of each buffer and workgroup-array
# index, and zeroing each workgroup's memory at its start (our kernels bound-check their own reads and
# write workgroup memory before reading it; all are checked against cpu): the forward at both sizes and
# the 64x128x128 training step with both off (2026-11-26, clamping alone: 0.282 -> 0.260 s forward;
# 2026-11-28 on the H100, both: 0.191 -> 0.172 s; since session 22 no clamp is left in the conv kernels'
# inner loops, so this shows what robustness still costs)
if fits "${UNSAFE_TIMEOUT:-60}" "Dawn safety off"; then
  ANATOMYNET_DAWN_FLAGS=enable-dawn-features=allow_unsafe_apis,disable_robustness,disable_workgroup_init \
    timeout "${UNSAFE_TIMEOUT:-60}" bash $B --no-check --no-convs --no-dispatch-cost --tilings "$OUT/tilings.json" \
    --shapes 64x128x128,178x302x225 --train-shapes 64x128x128 --no-train-profile --json-out "$OUT/unsafe.json" > /dev/null 2> "$OUT/unsafe.err"
  stamp "Dawn safety off rc=$? $(grep -E '^.{0,40}(forward|train step) |failed' "$OUT/unsafe.err" | grep -v kernels | cut -c1-160 | tr '\n' ' ')"
fi
recompute cap0
recompute keep
recompute noclear
# A/B of tfjs's submit batch (dispatches per queue.submit, default 15; the dispatch-cost line of
# ours.err gives each WebGPU call's CPU time): the 64x128x128 forward and training step at 100
if fits "${BATCH_TIMEOUT:-40}" "submit batch 100"; then
  timeout "${BATCH_TIMEOUT:-40}" bash $B --no-check --no-convs --no-dispatch-cost --tilings "$OUT/tilings.json" \
    --shapes 64x128x128 --submit-batch 100 --no-train-profile --json-out "$OUT/batch100.json" > /dev/null 2> "$OUT/batch100.err"
  stamp "submit batch 100 rc=$? $(grep -E '^.{0,40}(forward|train step) |failed' "$OUT/batch100.err" | grep -v kernels | cut -c1-160 | tr '\n' ' ')"
fi
# A/B of the bind group cache (webgpu/bind_groups.ts): the same 64x128x128 forward and step with
# tfjs's own bind groups and buffer order
if fits "${NOCACHE_TIMEOUT:-40}" "no bind group cache"; then
  timeout "${NOCACHE_TIMEOUT:-40}" bash $B --no-check --no-convs --no-dispatch-cost --tilings "$OUT/tilings.json" \
    --shapes 64x128x128 --no-bind-group-cache --no-train-profile --json-out "$OUT/nocache.json" > /dev/null 2> "$OUT/nocache.err"
  stamp "no bind group cache rc=$? $(grep -E '^.{0,40}(forward|train step) |failed' "$OUT/nocache.err" | grep -v kernels | cut -c1-160 | tr '\n' ' ')"
fi
pack
if [ -f "$OUT/step.cpuprofile" ]; then
  bash "$d/run.sh" "$d/cpuprof-summary.mjs" "$OUT/step.cpuprofile" --top 40 > "$OUT/cpuprof.txt" 2>&1
  head -n 25 "$OUT/cpuprof.txt"
  rm -f "$OUT/step.cpuprofile"
fi
# all.tgz holds every output; only it and the summaries stay, within the device's file count
pack && find "$OUT" -type f ! -name all.tgz ! -name gpu.csv ! -name ref.json ! -name ours.err ! -name cpuprof.txt -delete
