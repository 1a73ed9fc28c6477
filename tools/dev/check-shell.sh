#!/usr/bin/env bash
# Fails when any shell script tracked by git has a shellcheck finding (settings in the root
# .shellcheckrc: sourced files are followed from the script's own folder).
set -euo pipefail
cd "$(dirname "$0")/../.."
mapfile -t scripts < <(git ls-files '*.sh')
if [[ ${#scripts[@]} -eq 0 ]]; then exit 0; fi
if ! shellcheck "${scripts[@]}"; then
  echo "check-shell: fix the findings above (https://www.shellcheck.net/wiki/)" >&2
  exit 1
fi
echo "check-shell: ${#scripts[@]} scripts clean"
