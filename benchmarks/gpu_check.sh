#!/usr/bin/env bash
# A short real-model run on a GPU machine: prints tokens/s, step time, the learner's peak
# memory and the vLLM/torch rollout ratio (goal >= 5x). See benchmarks/gpu_check.py for what
# is measured.
#
#   benchmarks/gpu_check.sh [--model /path/to/Qwen2.5-0.5B-Instruct] [--steps 8] ...
#   benchmarks/gpu_check.sh --engine torch ...    # no vLLM: the torch engine's training run
#
# Needs a CUDA build of torch and, unless --engine torch, the vllm package (docs/trainer.md,
# "On a GPU"). PYTHON picks the interpreter (default: python).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py="${PYTHON:-python}"

# --engine torch runs no vLLM stage, so it must not need vllm installed
engine=vllm
prev=
for arg in "$@"; do
  if [[ "$arg" == --engine=* ]]; then
    engine="${arg#--engine=}"
  elif [[ "$prev" == "--engine" ]]; then
    engine="$arg"
  fi
  prev="$arg"
done

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q "^GPU"; then
  echo "gpu_check.sh: no NVIDIA GPU on this machine (nvidia-smi is missing or lists none);" \
       "run it on a GPU machine" >&2
  exit 2
fi
if ! "$py" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_check.sh: a GPU is present but torch ($py) cannot use it:" \
       "install a CUDA build of torch (docs/trainer.md, 'On a GPU')" >&2
  exit 2
fi
if [[ "$engine" != "torch" ]] && ! "$py" -c "import vllm" >/dev/null 2>&1; then
  echo "gpu_check.sh: vLLM is not installed for $py: pip install 'vllm==0.32.0'" \
       "(or run the torch engine alone: --engine torch)" >&2
  exit 2
fi
exec "$py" "$here/gpu_check.py" "$@"
