#!/usr/bin/env bash
# Data larger than memory, end to end: synth -> ingest long (streaming Parquet) -> validate -> load.
#
#   scripts/bench_scale.sh [WORK_DIR] [VDS] [DAYS]      # defaults: /tmp/sxl-scale 2000 90
#
# Every stage runs under /usr/bin/time -v; the table of wall time and peak RSS ("Maximum resident set
# size") goes to WORK_DIR/results.md together with the machine and its load average before each stage
# (the machine may be shared: the load says how much CPU the stages had to themselves).
# The data (about 550 MB for 2,000 VDs x 90 days) stay in WORK_DIR; keep WORK_DIR out of the repository.
set -euo pipefail

WORK=${1:-/tmp/sxl-scale}
VDS=${2:-2000}
DAYS=${3:-90}
REPO=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
SXL=${SXL:-$REPO/.venv/bin/social-xlstm}
CORES=$(nproc --all)  # before OMP_NUM_THREADS, which nproc honours
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

mkdir -p "$WORK"
rm -rf "$WORK/synth" "$WORK/ingested" "$WORK/one-file.parquet" "$WORK/ingested-one-file"
RESULTS=$WORK/results.md
{
  echo "# bench_scale: $VDS VDs x $DAYS days at 5 min ($(date -u '+%Y-%m-%d %H:%M UTC'))"
  echo
  echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $CORES cores"
  echo "- RAM: $(free -g | awk '/^Mem:/ {print $2}') GiB total, $(free -g | awk '/^Mem:/ {print $7}') GiB available at start"
  echo "- Python: $($PYTHON -c 'import sys, pyarrow, pandas, numpy; print(sys.version.split()[0], "pyarrow", pyarrow.__version__, "pandas", pandas.__version__, "numpy", numpy.__version__)')"
  echo "- OMP_NUM_THREADS=$OMP_NUM_THREADS"
  echo
  echo "| stage | wall (s) | peak RSS (MiB) | CPU | load avg (1 min) before / after | command |"
  echo "|---|---:|---:|---:|---:|---|"
} >"$RESULTS"

stage() {  # stage NAME COMMAND...: run under /usr/bin/time -v, append a row to the table
  local name=$1
  shift
  local log=$WORK/$name.log load
  load=$(cut -d' ' -f1 /proc/loadavg)
  echo "== $name: $*" >&2
  /usr/bin/time -v "$@" >"$log" 2>&1 || { tail -20 "$log" >&2; exit 1; }
  local wall rss cpu
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.1f", s}' "$log")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$log")
  cpu=$(awk -F': ' '/Percent of CPU/ {print $2}' "$log")
  grep -v -E '^\s' "$log" | grep -v 'Command being timed' | tail -3 >&2 || true
  echo "| $name | $wall | $rss | $cpu | $load / $(cut -d' ' -f1 /proc/loadavg) | \`${*/#$REPO\//}\` |" >>"$RESULTS"
}

stage synth "$SXL" synth --out "$WORK/synth" --vds "$VDS" --days "$DAYS" --seed 0 --no-progress
stage ingest "$SXL" ingest long "$WORK/synth/observations" --out "$WORK/ingested" \
  --time-col timestamp --id-col vd_id --value-cols flow,speed,occupancy \
  --units flow=veh/5min,speed=km/h,occupancy=% --tz Asia/Taipei --freq 5min \
  --stations "$WORK/synth/stations.parquet" --name "synth-${VDS}vd-ingested"
stage validate "$SXL" validate "$WORK/ingested"
# The same rows as one big Parquet file (row groups of 1 Mi rows): pieces of one file must stream too.
cat >"$WORK/one_file.py" <<'EOF_PY'
import sys

import pyarrow.dataset as ds
import pyarrow.parquet as pq

data = ds.dataset(sys.argv[1])
with pq.ParquetWriter(sys.argv[2], data.schema) as out:
    for batch in data.to_batches(batch_size=1 << 20, batch_readahead=1, fragment_readahead=1):
        out.write_batch(batch, row_group_size=1 << 20)
EOF_PY
stage one_file "$PYTHON" "$WORK/one_file.py" "$WORK/synth/observations" "$WORK/one-file.parquet"
stage ingest_one_file "$SXL" ingest long "$WORK/one-file.parquet" --out "$WORK/ingested-one-file" \
  --time-col timestamp --id-col vd_id --value-cols flow,speed,occupancy \
  --units flow=veh/5min,speed=km/h,occupancy=% --tz Asia/Taipei --freq 5min \
  --stations "$WORK/synth/stations.parquet" --name "synth-${VDS}vd-ingested"
stage load_panel "$PYTHON" "$REPO/scripts/bench_load.py" "$WORK/ingested"
stage load_datamodule "$PYTHON" "$REPO/scripts/bench_load.py" "$WORK/ingested" --datamodule

{
  echo
  OBS=$(ls -d "$WORK"/ingested/observations*)
  echo "Rows: $("$PYTHON" -c "import pyarrow.dataset as d; print(d.dataset('$OBS').count_rows())"), \
observations on disk: $(du -sh "$OBS" | cut -f1) in $(find "$OBS" -name '*.parquet' | wc -l) Parquet file(s)"
  echo "Ingested from the directory and from the single file, row for row the same as the synth output: $(
    "$PYTHON" - "$WORK" <<'EOF_PY'
import glob
import sys

import numpy as np
import pyarrow.dataset as ds

work = sys.argv[1]
names = ("synth", "ingested", "ingested-one-file")
tables = [ds.dataset(glob.glob(f"{work}/{name}/observations*")[0]).to_table() for name in names]
same = all(
    np.array_equal(t.column(c).to_numpy(), tables[0].column(c).to_numpy(), equal_nan=c not in ("timestamp", "vd_id"))
    for t in tables[1:]
    for c in tables[0].column_names
)
print(same)
EOF_PY
  )"
  echo
  echo "Panel/datamodule output:"
  echo '```'
  grep -h -E '^(panel|datamodule)' "$WORK/load_panel.log" "$WORK/load_datamodule.log" || true
  echo '```'
} >>"$RESULTS"
cat "$RESULTS"
