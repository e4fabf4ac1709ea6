#!/usr/bin/env bash
# Fuzz gate: runs every Go fuzz target of the module for a bounded time each
# and fails when one finds a crash (a panic, a failed property, a hang).
#
#   tools/fuzz-check.sh [FUZZTIME]   (default $ICOS_FUZZ_TIME, else 15s per target)
#
# Targets are found with `go test -list '^Fuzz' ./...`, so a new Fuzz*
# function is picked up without editing this script. Each runs alone
# (go test -fuzz takes one target), on GOMAXPROCS workers.
#
# A crash leaves its input in <package>/testdata/fuzz/<Target>/<hash>; the
# script names it. Commit it with the fix: `go test` then replays it as a
# seed. Minimization is cut to one run (-fuzzminimizetime=1x): a long
# minimization can outlast -fuzztime, and then go test drops the crash and
# reports PASS. A target that fails only with "context deadline exceeded"
# and writes no input is counted as a flake (a known go test behaviour when
# -fuzztime ends mid-run), reported but not failed.
#
# Exit status 0 when no target crashed. Prints one line per target and a
# closing "fuzz: N targets, N crashed, N flaked in Ts".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH=/usr/local/go/bin:$PATH
fuzztime=${1:-${ICOS_FUZZ_TIME:-15s}}
start=$SECONDS

# go test -list prints the matching names of a package, then "ok <package>".
targets=()
pending=()
while IFS= read -r line; do
	case $line in
	Fuzz*) pending+=("$line") ;;
	ok*)
		pkg=$(awk '{print $2}' <<<"$line")
		for name in "${pending[@]}"; do targets+=("$pkg $name"); done
		pending=()
		;;
	*) pending=() ;;
	esac
done < <(go test -list '^Fuzz' ./...)
if ((${#targets[@]} == 0)); then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
crashed=0
flaked=0
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	corpus="$(go list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$name"
	before=$(ls "$corpus" 2>/dev/null || true)
	t0=$SECONDS
	rc=0
	go test "$pkg" -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" -fuzzminimizetime 1x >"$log" 2>&1 || rc=$?
	new=$(comm -13 <(printf '%s\n' "$before" | sort) <(ls "$corpus" 2>/dev/null | sort) | sed '/^$/d')
	execs=$(grep -oE 'execs: [0-9]+' "$log" | tail -1 | awk '{print $2}' || true)
	status="ok"
	if ((rc != 0)); then
		if [[ -z "$new" ]] && grep -q 'context deadline exceeded' "$log" && ! grep -qE -- '--- FAIL: .*/' "$log"; then
			status="flake (context deadline exceeded, no crash input)"
			flaked=$((flaked + 1))
		else
			status="CRASH"
			crashed=$((crashed + 1))
		fi
	fi
	printf '%-60s %s, %s execs, %ds\n' "$pkg $name" "$status" "${execs:-?}" $((SECONDS - t0))
	if [[ $status == CRASH ]]; then
		sed 's/^/    /' "$log" | tail -40
		for f in $new; do echo "    crash input: $corpus/$f"; done
	fi
done
echo "fuzz: ${#targets[@]} targets, $crashed crashed, $flaked flaked in $((SECONDS - start))s (-fuzztime $fuzztime each)"
((crashed == 0))
