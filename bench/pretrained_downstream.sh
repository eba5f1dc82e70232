#!/usr/bin/env bash
# Downstream effect of a biLM pretrained here: ELMo vs same-corpus word2vec vs random
# embeddings, same heads, 3 seeds, on SST-2, tweet_sentiment, SST-5 and CoNLL-2003.
#
#   bench/pretrained_downstream.sh EXPORT_DIR WORD2VEC_FILE [OUT_DIR]
#
# EXPORT_DIR holds options.json + weights.hdf5 (python -m elmo_tasks.pretrain);
# WORD2VEC_FILE comes from python -m elmo_tasks.pretrain_word2vec on the same corpus, with
# word2vec.dim equal to the biLM's output dim. Training sets are capped (SST2_TRAIN,
# TWEET_TRAIN, CONLL_TRAIN; EPOCHS_CLS, EPOCHS_NER) so the 36 runs fit a CPU afternoon;
# SST-5 trains on all of its 8,544 sentences; validation and test sets are complete.
# TASKS and SEEDS choose a subset, e.g. TASKS="sst2 sst5" SEEDS=1. Writes OUT_DIR/<task>/comparison.{md,png}.
set -euo pipefail

export_dir=${1:?usage: $0 EXPORT_DIR WORD2VEC_FILE [OUT_DIR]}
word2vec=${2:?usage: $0 EXPORT_DIR WORD2VEC_FILE [OUT_DIR]}
out=${3:-logs/pretrained_downstream}
seeds=${SEEDS:-1,2,3}
dim=$(python -c "import json,sys; print(2 * json.load(open(sys.argv[1]))['lstm']['projection_dim'])" "$export_dir/options.json")

common=(callbacks.rich_progress_bar=null trainer.enable_progress_bar=false "paths.log_dir=$out" "seed=$seeds")
elmo=("encoder.options_file=$export_dir/options.json" "encoder.weight_file=$export_dir/weights.hdf5")

sweep() {  # task name, encoder name, overrides...
  local task=$1 name=$2
  shift 2
  echo "== $task / $name"
  python train.py -m "${common[@]}" "hydra.sweep.dir=$out/$task/$name" "$@"
}

for task in ${TASKS:-sst2 tweet sst5 conll2003}; do
  case $task in
    sst2) cap="task.max_train_samples=${SST2_TRAIN:-20000}" epochs="trainer.max_epochs=${EPOCHS_CLS:-3}" ;;
    tweet) cap="task.max_train_samples=${TWEET_TRAIN:-10000}" epochs="trainer.max_epochs=${EPOCHS_CLS:-3}" ;;
    sst5) cap="task.max_train_samples=null" epochs="trainer.max_epochs=${EPOCHS_CLS:-3}" ;;
    conll2003) cap="task.max_train_samples=${CONLL_TRAIN:-5000}" epochs="trainer.max_epochs=${EPOCHS_NER:-5}" ;;
  esac
  if [ "$task" = conll2003 ]; then head=(); else head=(head.contextualizer=bilstm head.contextualizer_dim=128); fi
  sweep "$task" elmo "experiment=${task}_elmo" "${elmo[@]}" "${head[@]}" "$cap" "$epochs"
  sweep "$task" word2vec "experiment=${task}_baseline" "encoder.dim=$dim" "encoder.pretrained_file=$word2vec" "$cap" "$epochs"
  sweep "$task" random "experiment=${task}_baseline" "encoder.dim=$dim" "$cap" "$epochs"
  python -m elmo_tasks.compare "$out/$task" --out "$out/$task" --group-by folder
done
