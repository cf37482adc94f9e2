#!/usr/bin/env bash
# GPU check of the renderer (issue 5): CUDA tests (fp16, bf16) + GPU speed, about 2-3 min on an
# H100/H200. Run from anywhere: `bash eval/gpu_check.sh` (PYTHON overrides the interpreter).
# Targets: <= 5 ms per 1080p frame and <= 15 ms per 4K frame, upload/download included.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
$PY -c "import torch; print('torch', torch.__version__, '| cuda', torch.version.cuda, '|', torch.cuda.get_device_name(0))" || exit 1
echo "== tests/test_render.py (CPU fp32 + CUDA fp16/bf16) =="
timeout 150 $PY -m pytest tests/test_render.py -q --noconftest -p no:cacheprovider
tests_rc=$?
echo "== speed, fp16, batch 8 =="
timeout 150 $PY eval/bench_render_speed.py --device cuda --dtype float16 --sizes 640x360,1080p,4K --batch 8 --repeats 5
echo "== speed, bf16, batch 8 =="
timeout 60 $PY eval/bench_render_speed.py --device cuda --dtype bfloat16 --sizes 1080p,4K --batch 8 --repeats 3
echo "== speed, fp16, batch 1 (latency) =="
timeout 60 $PY eval/bench_render_speed.py --device cuda --dtype float16 --sizes 1080p,4K --batch 1 --repeats 5
exit $tests_rc
