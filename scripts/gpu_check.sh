#!/usr/bin/env bash
# The GPU checks in one command, for a CUDA machine (e.g. the project's lent H100/H200), from the repo root:
#
#   bash scripts/gpu_check.sh            # writes runs/gpu_check/ (or $OUT when set)
#
# 1. the card, driver, torch and Triton versions;
# 2. the gpu-marked tests (the Triton sLSTM kernels against the reference, bf16 error bounds);
# 3. training-step times of the same architectures on this GPU and on this machine's CPU (one run,
#    ratios side by side) with scripts/bench_epoch.py;
# 4. a short fit + test on GPU with configs/gpu.yaml (bf16-mixed, the fused Triton sLSTM) on a simulated
#    network, whose metrics.json and log come back.
# No install step: the package runs from the checkout (PYTHONPATH). Python packages the machine lacks
# (jsonargparse for LightningCLI, say) can travel as wheels in .whl/ and are installed to /tmp/site.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu_check}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 CI=1 MPLBACKEND=Agg
if compgen -G ".whl/*.whl" >/dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
    export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
log() { echo "== $*" | tee -a "$OUT/summary.txt"; }

log "device"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee -a "$OUT/summary.txt"
$PY -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())" \
    | tee -a "$OUT/summary.txt"

log "gpu-marked tests"
$PY -m pytest -q -m gpu tests/ops tests/nn 2>&1 | tee "$OUT/gpu_tests.txt" | tail -3 | tee -a "$OUT/summary.txt"

log "training step, GPU vs CPU (N=500, K=16, B=32, W=12, D=64)"
$PY scripts/bench_epoch.py --vds 500 --neighbours 16 --archs lstm slstm_pool social_xlstm \
    --device cuda 2>&1 | tee "$OUT/bench_step.txt" | tee -a "$OUT/summary.txt"
$PY scripts/bench_epoch.py --vds 500 --neighbours 16 --archs lstm slstm_pool social_xlstm --device cpu \
    2>&1 | tee -a "$OUT/bench_step.txt" | tee -a "$OUT/summary.txt"

log "short fit on GPU (bf16-mixed, Triton sLSTM)"
DATA=$(mktemp -d)/data
$PY -m social_xlstm synth --out "$DATA" --vds 200 --days 14 --seed 0 >/dev/null
start=$(date +%s)
$PY -m social_xlstm fit --config configs/gpu.yaml --data.data_dir "$DATA" --trainer.max_epochs 2 \
    --trainer.default_root_dir "$OUT/fit" 2>&1 | tail -20 > "$OUT/fit.txt"
ckpt=$(ls "$OUT"/fit/lightning_logs/version_0/checkpoints/*.ckpt | head -1)
$PY -m social_xlstm test --config configs/gpu.yaml --data.data_dir "$DATA" --trainer.default_root_dir "$OUT/fit" \
    --ckpt_path "$ckpt" --metrics.output "$OUT/metrics.json" 2>&1 | tail -5 >> "$OUT/fit.txt"
echo "fit + test: $(( $(date +%s) - start )) s" | tee -a "$OUT/summary.txt"
rm -rf "$OUT/fit"  # the checkpoint stays on the machine; metrics.json and the logs come back
