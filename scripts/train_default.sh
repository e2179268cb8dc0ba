#!/usr/bin/env bash
# `make train-default`: train the bundled model minisora-tiny from nothing, on MovingShapes.
#
# Stages (each prints its wall time):
#   1. VAE          minisora train-vae       -> minisora/assets/minisora-tiny/vae
#   2. rewriter     minisora train-rewriter  -> minisora/assets/minisora-tiny/rewriter
#   3. cache        minisora cache-latents   -> runs/minisora-tiny/cache (train split; 17-frame clips at
#                   64x64, 48x80, 80x48 plus single frames; each clip with its own drawn caption)
#   4. transformer  minisora train configs/minisora-tiny.yaml
#   5. export       scripts/export_default.py -> transformer/ (EMA, bf16) + model_index.json
#
# Measured on this 2-core CPU (AVX-512 bf16) while shared with other jobs, for the shipped model:
# VAE 30 min, rewriter ~10 min, cache 8 min (3750 clips, 11250 items), transformer 2700 steps in
# ~33 min (1.3 steps/s, 21 samples/s, one thread), export < 1 min: about 80 min in all. The numbers
# per stage are printed as it goes. Environment knobs (defaults in brackets):
#   VAE_MINUTES [40]  CACHE_VIDEOS [1000]  CAPTIONS [3]  DIT_STEPS [2700]  SKIP_VAE / SKIP_REWRITER / SKIP_CACHE [unset]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
ASSETS=minisora/assets/minisora-tiny
RUN=runs/minisora-tiny
VAE_MINUTES=${VAE_MINUTES:-30}
CACHE_VIDEOS=${CACHE_VIDEOS:-1000}
CAPTIONS=${CAPTIONS:-3}
DIT_STEPS=${DIT_STEPS:-2700}
mkdir -p "$RUN" "$ASSETS"
TOTAL_START=$SECONDS
declare -a REPORT

stage() {  # stage NAME COMMAND...: run, time, remember
  local name=$1; shift
  echo "=== [$name] $*"
  local t0=$SECONDS
  "$@"
  local dt=$((SECONDS - t0))
  REPORT+=("$(printf '%-12s %4d min %02d s' "$name" $((dt / 60)) $((dt % 60)))")
  echo "=== [$name] done in $((dt / 60)) min $((dt % 60)) s"
}

if [[ -z "${SKIP_VAE:-}" ]]; then
  # phase 1: the whole VAE; phase 2 (helper C's decoder-only fine-tune, encoder + latent stats frozen so
  # the DiT's latent space does not move) may follow while the transformer trains.
  stage vae "$PY" -m minisora.cli train-vae --preset default --minutes "$VAE_MINUTES" --lr 4e-4 --threads 1 \
    --out "$RUN/vae" --release-dir "$ASSETS/vae" --set stats_clips=48 --set warmup_steps=50
fi
if [[ -z "${SKIP_REWRITER:-}" ]]; then
  stage rewriter "$PY" -m minisora.cli train-rewriter --out "$ASSETS/rewriter"
fi
if [[ -z "${SKIP_CACHE:-}" ]]; then
  rm -rf "$RUN/cache"
  # per size (64x64, 48x80, 80x48): CACHE_VIDEOS 17-frame clips and CACHE_VIDEOS/4 single frames,
  # each clip with CAPTIONS independently drawn captions (one cache item per caption)
  stage cache "$PY" scripts/cache_default.py --vae "$ASSETS/vae" --out "$RUN/cache" \
    --videos "$CACHE_VIDEOS" --images $((CACHE_VIDEOS / 4)) --captions "$CAPTIONS"
fi
# one process, one thread: on 2 cores this beats 2 OpenMP threads and 2 DDP ranks (measured 9.3 vs 1.7
# vs 8.4 samples/s on the shared machine)
stage transformer env OMP_NUM_THREADS=1 "$PY" -m minisora.cli train configs/minisora-tiny.yaml "run_dir=$RUN/dit" \
  "data.cache_dir=$RUN/cache" "schedule.max_steps=$DIT_STEPS"
stage export "$PY" scripts/export_default.py --config configs/minisora-tiny.yaml \
  --note "dit_steps=$DIT_STEPS" --note "cache_videos_per_size=$CACHE_VIDEOS"

echo "=== minisora-tiny trained; wall time per stage:"
printf '  %s\n' "${REPORT[@]}"
dt=$((SECONDS - TOTAL_START))
echo "  total        $((dt / 60)) min $((dt % 60)) s"
du -sh "$ASSETS"
