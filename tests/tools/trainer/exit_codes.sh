#!/usr/bin/env bash
# spindle-train's exit codes (docs/tools/spindle-train.md): 2 for a usage error, 1 for a
# failure to train or evaluate, each with its reason on stderr.
set -uo pipefail
train=$1
dir=$2
rm -rf "$dir" && mkdir -p "$dir"
fail=0
# expect CODE PATTERN -- COMMAND...: COMMAND exits CODE and says PATTERN on stderr.
expect() {
  local code=$1 pattern=$2
  shift 3
  "$@" >"$dir/out.txt" 2>"$dir/err.txt"
  local rc=$?
  if [[ $rc -ne $code ]] || ! grep -q -- "$pattern" "$dir/err.txt"; then
    echo "FAIL: $* exited $rc (expected $code), stderr: $(cat "$dir/err.txt")" >&2
    fail=1
  fi
}
"$train" generate --out "$dir/few.csv" --windows 10 --seed 1 >/dev/null || exit 1

# Training failures: exit 1.
expect 1 "training needs at least 20 healthy windows" -- \
  "$train" fit --data "$dir/few.csv" --out-dir "$dir/model" --adaptation none
expect 1 "per-machine training needs at least its calibration period" -- \
  "$train" fit --data "$dir/few.csv" --out-dir "$dir/model"
expect 1 "cannot read" -- "$train" fit --data "$dir/missing.csv" --out-dir "$dir/model"
expect 1 "cannot read" -- "$train" evaluate --model-dir "$dir/missing"

# Usage errors: exit 2.
expect 2 "unknown command" -- "$train" bogus
expect 2 "--kind 'svm'" -- "$train" fit --data "$dir/few.csv" --out-dir "$dir/model" --kind svm
expect 2 "--hidden 24,0,24" -- \
  "$train" fit --data "$dir/few.csv" --out-dir "$dir/model" --hidden 24,0,24
expect 2 "--threshold-margin" -- \
  "$train" fit --data "$dir/few.csv" --out-dir "$dir/model" --threshold-margin 0.5
expect 2 "refuses shaft speed" -- "$train" generate --out "$dir/x.csv" --severity 2
expect 2 "--out" -- "$train" generate
exit $fail
