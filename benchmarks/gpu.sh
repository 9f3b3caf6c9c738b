#!/usr/bin/env bash
# Training at GPU speed, in one run of under 8 minutes on one GPU:
#   1. Flamingo on a 1.1B Llama-style LM (random weights, built from a config), bf16,
#      batch sized to fill the GPU: tokens/s and MFU (target >= 40% of the bf16 peak);
#   2. our encoder trainer and open_clip_train (synthetic data) on ViT-B/32 at the same
#      batch size, in one run: samples/s of both (target: ours >= 1.0x);
#   3. the loader's Flamingo examples/s from real shards against what training consumes
#      (target >= 2x).
# Without a GPU it says so and exits 0.
#
#   bash benchmarks/gpu.sh            (PYTHON=... to choose the interpreter, COMPILE=1 for torch.compile,
#                                      ENCODER_BATCH=256 for part 2)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}

cuda=$("$PYTHON" -c "import torch; print(torch.cuda.is_available())") || { echo "benchmarks/gpu.sh: $PYTHON cannot import torch" >&2; exit 1; }
if [ "$cuda" != "True" ]; then
    echo "benchmarks/gpu.sh: no CUDA GPU on this machine; nothing measured."
    exit 0
fi
"$PYTHON" -c "import torch; print('GPU:', torch.cuda.get_device_name(0), '| torch', torch.__version__)"
workers=$(( $(nproc) > 3 ? $(nproc) - 2 : 1 ))

echo "== 1 + 3. Flamingo training (1.1B Llama-style LM, bf16) and the loader against it"
failed=0  # a part that fails or runs out of time is reported; the next one still runs
timeout 270 "$PYTHON" benchmarks/gpu_train.py --device cuda --workers "$workers" ${COMPILE:+--compile} || failed=$?

echo "== 2. Encoder pretraining: ours vs open_clip_train, ViT-B/32, bf16"
timeout 200 "$PYTHON" benchmarks/encoder.py --model ViT-B-32 --batch "${ENCODER_BATCH:-256}" --steps 15 \
    --workers "$workers" --precision amp_bf16 || failed=$?
echo "benchmarks/gpu.sh: ${SECONDS}s in all$([ "$failed" = 0 ] || echo ", a part failed (exit $failed)")"
exit "$failed"
