#!/usr/bin/env bash
# Two independent builds of the same image must give byte-identical outputs.
# Arguments: the outputs of build 1, then those of build 2, in the same order.
set -euo pipefail
(($# % 2 == 0)) || { echo "FAIL: odd number of outputs" >&2; exit 1; }
n=$(($# / 2))
args=("$@")
for ((i = 0; i < n; i++)); do
	a=${args[i]} b=${args[i + n]}
	[[ $(basename "$a") == $(basename "$b") ]] || { echo "FAIL: $a and $b are not the same output" >&2; exit 1; }
	ha=$(sha256sum <"$a" | cut -c1-64) hb=$(sha256sum <"$b" | cut -c1-64)
	if [[ $ha != "$hb" ]]; then
		echo "FAIL: $(basename "$a") differs between the two builds: $ha != $hb" >&2
		exit 1
	fi
	echo "identical: $(basename "$a") $ha"
done
