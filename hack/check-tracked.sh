#!/usr/bin/env bash
# Fails when git tracks a build output: a file over 1 MB or an executable binary
# (ELF, Mach-O, PE). Run by `make lint`, which CI runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
limit=$((1024 * 1024))
bad=0
while IFS= read -r -d '' f; do
  [[ -f "$f" ]] || continue
  size=$(stat -c %s "$f")
  if ((size > limit)); then
    echo "check-tracked: $f is $size bytes (over 1 MB): build outputs and large data do not belong in git" >&2
    bad=1
  fi
  magic=$(head -c 4 "$f" | od -An -tx1 | tr -d ' \n')
  case "$magic" in
    7f454c46 | cffaedfe | cefaedfe | feedfacf | feedface | 4d5a*)
      echo "check-tracked: $f is an executable binary: build outputs do not belong in git" >&2
      bad=1
      ;;
  esac
done < <(git ls-files -z)
exit $bad
