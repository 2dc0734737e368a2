# The GPU distillation run of 2026-12-04 (one NVIDIA H200): its three teacher + student pairs, none
# shipped (MODEL_CARD.md, "What was tried"). On that day the teachers were scored by a separate
# call of `model_card.evaluate`, which `distil.teacher_report` now makes inside the run.
#
# Here (with internet, once):
#   python - <<'EOF'   # the 12-layer init, built by train.prepare from the two PyPI wheels
#   from types import SimpleNamespace; from pathlib import Path
#   from nlp.training.train import prepare
#   prepare(SimpleNamespace(data=Path("../shared/data/sentiment"), seed=13, layers=12, ffn=1536,
#                           work=Path("var/train/teacher-init"), version="voc-teacher-e5s12"))
#   EOF
#   python -m nlp.training.carry pack --work var/train/teacher-init --out var/gpu/teacher-init
#   tar cJf var/gpu/sentiment.tar.xz -C ../shared/data sentiment   # var/ is ignored: never committed
# There (no internet; torch, transformers, tokenizers, numpy):  bash nlp/training/distil_gpu.sh
# Back here, each student re-scored on the CPU int8 path, then calibrated (`--out nlp/model` ships one):
#   python -m nlp.training.distil --rescore W/studentB --out var/train/distilled-gpuB
#   python -m nlp.training.calibrate --model var/train/distilled-gpuB --write
set -euo pipefail
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PY:-python3}
W=${W:-/tmp/gpu-work}; D=${D:-/tmp/gpu-data}; DEVICE=${DEVICE:-cuda}
mkdir -p "$D" "$W"
[ -d "$D/sentiment" ] || $PY -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter='data')" \
    var/gpu/sentiment.tar.xz "$D"
[ -f "$W/teacher-init/init/config.json" ] || \
    $PY -m nlp.training.carry unpack --pack var/gpu/teacher-init --work "$W/teacher-init"
START=$(date +%s)
# A: the teacher recipe tried on the CPU (bank x3 + 0.3 x FOCUS_MIX of the other corpora);
# B: a teacher that learns every other corpus in full (1.0); C: B's teacher (reused), a longer
# student: 3 passes, twice the replay, alpha 0.9. Every student starts from nlp/model (v3) and
# learns the teacher's soft labels on the bank split x3, the 16,992 synthetic reviews and the replay.
for P in "A 0.3 --replay 0.3 --student-epochs 2" "B 1.0 --replay 0.3 --student-epochs 2" \
         "C 1.0 --replay 0.6 --student-epochs 3 --alpha 0.9"; do
  read -r X R EXTRA <<< "$P"
  case " ${ONLY:-A B C} " in *" $X "*) ;; *) continue ;; esac
  echo "== pair $X: teacher replay $R, student $EXTRA, $(($(date +%s) - START)) s in"
  # shellcheck disable=SC2086
  $PY -m nlp.training.distil --data "$D/sentiment" --work "$W" --device "$DEVICE" --teacher-replay "$R" \
      $EXTRA --replay-taught --out "$W/student$X" --version "voc-sentiment-zh-e5s3-v4$X"
  echo "== pair $X done, $(($(date +%s) - START)) s in"
done
