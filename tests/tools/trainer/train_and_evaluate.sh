#!/usr/bin/env bash
# spindle-train end to end, as an operator runs it: healthy windows over the speed range,
# an autoencoder and a k-means model, each evaluated on simulator seeds the training never
# saw with the targets required (ROC-AUC >= 0.97 per fault at moderate severity,
# <= 1 % false alarms at every speed), and the model within the smallest board's budgets.
set -euo pipefail
train=$1
dir=$2
rm -rf "$dir" && mkdir -p "$dir"
"$train" generate --board nucleo_l476rg --out "$dir/healthy.csv" --speeds 15,20,25,30,35,40,45,50 --windows 250 --seed 1
for kind in autoencoder kmeans; do
  "$train" fit --data "$dir/healthy.csv" --kind "$kind" --board nucleo_l476rg --out-dir "$dir/$kind"
  "$train" evaluate --model-dir "$dir/$kind" --seed-base 5000 \
    --healthy-windows 150 --fault-windows 30 --require-targets
  test -s "$dir/$kind/evaluation.json"
  size=$(stat -c %s "$dir/$kind/model.spmc")
  if (( size > 16384 )); then echo "model $kind is $size bytes, over 16 KiB" >&2; exit 1; fi
done
# A seed the training used is refused for evaluation.
if "$train" evaluate --model-dir "$dir/autoencoder" --seed-base 1 >"$dir/refused.txt" 2>&1; then
  echo "evaluation on training seeds was not refused" >&2; exit 1
fi
grep -q "was used in training" "$dir/refused.txt"
echo "trained models meet the targets"
