#!/usr/bin/env bash
# The paper's comparison with a biLM pretrained here, 3 seeds, on SST-2, tweet_sentiment,
# SST-5 and CoNLL-2003: baseline, baseline + ELMo, ELMo alone, and the baseline with
# word2vec vectors trained on the biLM's own corpus (the same-corpus static alternative).
#
#   bench/pretrained_downstream.sh [EXPORT_DIR] WORD2VEC_FILE [OUT_DIR]
#
# EXPORT_DIR holds options.json + weights.hdf5 (python -m elmo_tasks.pretrain; "mini", the
# default, is the package's own); WORD2VEC_FILE comes from elmo-tasks pretrain-word2vec
# on the same corpus with word2vec.dim=300 (the baselines' embedding size). Every setting is
# its preset (experiment=<task>_{baseline,baseline_elmo,elmo}) trained to early stopping,
# at most MAX_EPOCHS epochs; training sets are capped (SST2_TRAIN, TWEET_TRAIN, CONLL_TRAIN;
# SST-5 trains on all 8,544 sentences) so the 48 runs fit a CPU afternoon; validation and
# test sets are complete. TASKS, SETTINGS and SEEDS choose a subset, e.g. TASKS="sst2 sst5"
# SEEDS=1. Writes OUT_DIR/<task>/<setting>/<seed>/ and OUT_DIR/<task>/comparison.{md,png},
# whose paired differences say which setting beats which over the seeds.
set -euo pipefail

export_dir=${1:?usage: $0 EXPORT_DIR|mini WORD2VEC_FILE [OUT_DIR]}
word2vec=${2:?usage: $0 EXPORT_DIR|mini WORD2VEC_FILE [OUT_DIR]}
out=${3:-logs/pretrained_downstream}
seeds=${SEEDS:-1,2,3}
if [ "$export_dir" = mini ]; then options=mini weights=mini; else options=$export_dir/options.json weights=$export_dir/weights.hdf5; fi

common=(callbacks.rich_progress_bar=null trainer.enable_progress_bar=false "paths.log_dir=$out" "seed=$seeds"
        "trainer.max_epochs=${MAX_EPOCHS:-12}" "threads=${THREADS:-1}")

for task in ${TASKS:-sst2 tweet sst5 conll2003}; do
  case $task in
    sst2) cap="task.max_train_samples=${SST2_TRAIN:-10000}" ;;
    tweet) cap="task.max_train_samples=${TWEET_TRAIN:-8000}" ;;
    sst5) cap="task.max_train_samples=null" ;;
    conll2003) cap="task.max_train_samples=${CONLL_TRAIN:-4000}" ;;
  esac
  for setting in ${SETTINGS:-baseline baseline_elmo elmo word2vec}; do
    case $setting in
      baseline) extra=("experiment=${task}_baseline") ;;
      word2vec) extra=("experiment=${task}_baseline" "encoder.pretrained_file=$word2vec") ;;
      elmo) extra=("experiment=${task}_elmo" "encoder.options_file=$options" "encoder.weight_file=$weights") ;;
      baseline_elmo) extra=("experiment=${task}_baseline_elmo" "encoder.encoders.elmo.options_file=$options"
                            "encoder.encoders.elmo.weight_file=$weights") ;;
    esac
    echo "== $task / $setting"
    python train.py -m "${common[@]}" "hydra.sweep.dir=$out/$task/$setting" "$cap" "${extra[@]}"
  done
  python -m elmo_tasks.compare "paths=$out/$task" "out=$out/$task" group_by=folder
done
