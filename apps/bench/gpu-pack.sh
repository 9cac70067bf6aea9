#!/usr/bin/env bash
# Packs the GPU session (gpu-session.sh) for the device machine, from the project root on a machine
# with Node and Debian's apt: fetches the X11/EGL client libraries NVIDIA's Vulkan driver loads (the
# device image lacks them) into /tmp/gldebs once, then runs ../shared/bench/devpack.sh.
# Afterwards, on the device:  bash .devpack/gpu-session.sh   (carry .devpack)
set -euo pipefail
root=$(git rev-parse --show-toplevel); cd "$root"
debs=/tmp/gldebs
if ! ls "$debs"/*.deb >/dev/null 2>&1; then
  mkdir -p "$debs"
  (cd "$debs" && apt-get download libegl1 libglvnd0 libglx0 libgl1 libx11-6 libx11-xcb1 libx11-data \
    libxext6 libxcb1 libxau6 libxdmcp6 libbsd0 libmd0 >/dev/null)
fi
../shared/bench/devpack.sh apps/bench/src/gpu.ts ../shared/bench/ref_anatomynet.py apps/bench/gpu-session.sh \
  apps/bench/src/cpuprof-summary.mjs "$debs"
# the memory prediction (bench:memory), bundled as devpack.sh bundles the bench
npx --no-install esbuild apps/bench/src/memory.ts --bundle --platform=node --format=esm --target=node20 \
  --external:webgpu --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu \
  --banner:js="import{createRequire as __cr}from'module';const require=__cr(import.meta.url);" \
  --outfile=.devpack/memory.mjs --log-level=warning
# the tilings tuned on the H100 (gpu-session.sh uses them there instead of tuning again)
cp apps/bench/results/2026-11-28-h100/tilings-call2.json .devpack/tilings-h100.json
