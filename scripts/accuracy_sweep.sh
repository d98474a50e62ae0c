#!/usr/bin/env bash
# The accuracy issue's runs on los-loop (tgcn protocol), resumable: rerun the same line and stored runs are
# read back, a run cut off after its checkpoint resumes. Two queues, one thread each, run side by side on
# a 2-core machine:
#   bash scripts/accuracy_sweep.sh budget        # each option alone and together, 8 epochs, seed 0
#   bash scripts/accuracy_sweep.sh converge      # to convergence: patience 5, caps 40 epochs / 35 min
#   bash scripts/accuracy_sweep.sh baselines     # the same rule for the sin/cos-calendar full model with
#                                                # global read
#   bash scripts/accuracy_sweep.sh learned       # learned neighbours (model.social.graph), to convergence
#   bash scripts/accuracy_sweep.sh seeds         # seeds 1 and 2 of the converged calendar+global full model
#                                                # and its no-social ablation, seed by seed (pairs first);
#                                                # seed 0 is in the converge queue's tables
#   bash scripts/accuracy_sweep.sh width         # the converged calendar+global full model and its ablation
#                                                # at width 96 (model.d_model=96), seed 0
#   bash scripts/accuracy_sweep.sh library       # the library's Graph WaveNet and DCRNN under the same rule
#                                                # (the bench extra: pyproject.toml says how to build it)
#   bash scripts/accuracy_sweep.sh dense         # the budget sweep on a simulated dense city network
#                                                # (make it first: see the case below), seed 0
# Tables: docs/results/los-loop-<name>.md / .json (dense-100-<name>). SEEDS="0 1 2" widens either queue.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-runs/data/los-loop}
SEEDS=${SEEDS:-0}
BENCH=(.venv/bin/social-xlstm bench accuracy --dataset "$DATA" --protocol tgcn --threads 1 --seeds $SEEDS)
CAL=model.embedding.calendar=learned
GLOBAL=model.social.global_read=true
case "${1:-budget}" in
  budget)
    "${BENCH[@]}" --epochs 8 --name los-loop-base --work runs/benchmark/los-loop-base \
      --models slstm_only social_xlstm
    "${BENCH[@]}" --epochs 8 --name los-loop-calendar --work runs/benchmark/los-loop-calendar \
      --models slstm_only social_xlstm stid --set "$CAL"
    "${BENCH[@]}" --epochs 8 --name los-loop-global --work runs/benchmark/los-loop-global \
      --models social_xlstm --set "$GLOBAL"
    "${BENCH[@]}" --epochs 8 --name los-loop-calendar-global --work runs/benchmark/los-loop-calendar-global \
      --models social_xlstm --set "$CAL" "$GLOBAL"
    ;;
  converge)
    "${BENCH[@]}" --epochs 40 --patience 5 --max-minutes 35 --name los-loop-converged-calendar \
      --work runs/benchmark/los-loop-converged-calendar --models stid slstm_only social_xlstm --set "$CAL"
    "${BENCH[@]}" --epochs 40 --patience 5 --max-minutes 35 --name los-loop-converged-calendar-global \
      --work runs/benchmark/los-loop-converged-calendar-global --models social_xlstm --set "$CAL" "$GLOBAL"
    ;;
  baselines)
    "${BENCH[@]}" --epochs 40 --patience 5 --max-minutes 35 --name los-loop-converged-global \
      --work runs/benchmark/los-loop-converged-global --models social_xlstm --set "$GLOBAL"
    ;;
  learned)
    "${BENCH[@]}" --epochs 40 --patience 5 --max-minutes 35 --name los-loop-converged-learned \
      --work runs/benchmark/los-loop-converged-learned --models social_xlstm \
      --set "$GLOBAL" model.social.graph=both
    "${BENCH[@]}" --epochs 40 --patience 5 --max-minutes 35 --name los-loop-converged-all \
      --work runs/benchmark/los-loop-converged-all --models social_xlstm \
      --set "$CAL" "$GLOBAL" model.social.graph=both
    ;;
  seeds)
    ARGS=(--protocol tgcn --dataset "$DATA" --threads 1 --epochs 40 --patience 5 --max-minutes 35)
    for seeds in "1" "1 2"; do
      .venv/bin/social-xlstm bench accuracy "${ARGS[@]}" --seeds $seeds --name los-loop-converged-calendar-global-seeds \
        --work runs/benchmark/los-loop-converged-calendar-global --models social_xlstm --set "$CAL" "$GLOBAL"
      .venv/bin/social-xlstm bench accuracy "${ARGS[@]}" --seeds $seeds --name los-loop-converged-calendar-seeds \
        --work runs/benchmark/los-loop-converged-calendar --models slstm_only --set "$CAL"
    done
    ;;
  width)
    W96=model.d_model=96
    "${BENCH[@]}" --epochs 40 --patience 5 --max-minutes 35 --name los-loop-converged-calendar-global-w96 \
      --work runs/benchmark/los-loop-converged-calendar-global-w96 --models social_xlstm --set "$CAL" "$GLOBAL" "$W96"
    "${BENCH[@]}" --epochs 40 --patience 5 --max-minutes 35 --name los-loop-converged-calendar-w96 \
      --work runs/benchmark/los-loop-converged-calendar-w96 --models slstm_only --set "$CAL" "$W96"
    ;;
  library)
    "${BENCH[@]}" --epochs 40 --patience 5 --max-minutes 35 --name los-loop-converged-library \
      --work runs/benchmark/los-loop-converged-library --models graph_wavenet dcrnn
    ;;
  dense)
    # python scripts/make_dense_network.py --vds 100 --days 14 --out runs/dense-src
    # social-xlstm ingest wide runs/dense-src/speed.csv --variable speed --unit km/h \
    #     --edges runs/dense-src/adj.npy --out runs/data/dense-100
    # social-xlstm bench probe --dataset runs/data/dense-100 --protocol tgcn --max-neighbours 16 --out docs/results
    DENSE=(.venv/bin/social-xlstm bench accuracy --dataset "${DENSE:-runs/data/dense-100}" --protocol tgcn
           --threads 1 --seeds $SEEDS --epochs 8)
    "${DENSE[@]}" --name dense-100-base --work runs/benchmark/dense-100-base --models slstm_only social_xlstm
    "${DENSE[@]}" --name dense-100-all --work runs/benchmark/dense-100-all --models social_xlstm \
      --set "$CAL" "$GLOBAL" model.social.graph=both
    "${DENSE[@]}" --name dense-100-calendar-global --work runs/benchmark/dense-100-calendar-global \
      --models social_xlstm --set "$CAL" "$GLOBAL"
    "${DENSE[@]}" --name dense-100-learned --work runs/benchmark/dense-100-learned --models social_xlstm \
      --set model.social.graph=both
    ;;
  *) echo "usage: $0 budget|converge|baselines|learned|seeds|width|library|dense" >&2; exit 2 ;;
esac
