#!/usr/bin/env bash
# Reproducibility audit: builds the given targets twice, from two copies of
# this checkout at different paths, in two fresh Bazel output bases, with no
# disk or remote cache, under different TZ, umask and locale; then compares
# the sha256 of every output file and, for each difference, runs
# `icos diff` to say which partition, which file and which byte ranges differ.
#
#   tools/repro-check.sh [TARGET...]     (default: //ic-os/guestos:disk-img //ic-os/guestos:update-img)
#
# Exit status 0 when every output is identical. Work files live in
# $ICOS_REPRO_DIR (default ~/.cache/icos-repro; removed on success unless
# ICOS_REPRO_KEEP=1). Each build is cold (a new output base, no caches), so
# its time and Bazel profile are the cold-build figures.
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
targets=("$@")
((${#targets[@]})) || targets=(//ic-os/guestos:disk-img //ic-os/guestos:update-img)
# cquery takes one expression: the union of the targets.
query=$(printf '%s + ' "${targets[@]}")
query=${query% + }
work="${ICOS_REPRO_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/icos-repro}"
rm -rf "$work"
mkdir -p "$work"

copy() { # copy the checkout (tracked and untracked files, not bazel-*) to $1
	mkdir -p "$1"
	(cd "$src" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -a -t "$1")
}

build() { # build NAME TZ UMASK LANG: prints the output files
	local name=$1 tz=$2 um=$3 lang=$4 tree="$work/$1/checkout-$1" t0=$SECONDS
	copy "$tree"
	# The output base sits inside the copy (the offline Bazel's chroot sees
	# only the checkout), hidden from package loading.
	echo .repro-output >>"$tree/.bazelignore"
	echo "== build $name in $tree (TZ=$tz umask $um LANG=$lang)" >&2
	(
		cd "$tree"
		umask "$um"
		export TZ=$tz LANG=$lang LC_ALL=$lang
		tools/bazel --output_base="$tree/.repro-output" build --disk_cache= \
			--noremote_accept_cached --noremote_upload_local_results \
			--profile="$tree/build.profile.gz" "${targets[@]}" >&2
		tools/bazel --output_base="$tree/.repro-output" cquery --output=files "$query" |
			sed "s|^|$tree/|"
		tools/bazel --output_base="$tree/.repro-output" shutdown >&2
	) >"$work/$name.files"
	[[ -s "$work/$name.files" ]] || { echo "repro-check: build $name listed no outputs" >&2; exit 1; }
	echo "== build $name took $((SECONDS - t0)) s (Bazel profile: $tree/build.profile.gz; per-step split:" \
		"tools/bench/profile-split.py $tree/build.profile.gz)" >&2
}

build a UTC 022 C.UTF-8
build b Pacific/Chatham 077 de_DE.UTF-8

icos="$work/icos"
(cd "$src" && CGO_ENABLED=0 go build -o "$icos" ./tools/cmd/icos)
diffs=0
paste "$work/a.files" "$work/b.files" | while IFS=$'\t' read -r fa fb; do
	rel=${fa#"$work/a/checkout-a/"}
	ha=$(sha256sum <"$fa" | cut -c1-64)
	hb=$(sha256sum <"$fb" | cut -c1-64)
	if [[ "$ha" == "$hb" ]]; then
		echo "identical  $rel  $ha"
	else
		echo "DIFFERENT  $rel  $ha != $hb"
		case "$rel" in
		*.sha256) ;;
		*) "$icos" diff "$fa" "$fb" | sed 's/^/    /' || true ;;
		esac
		echo 1 >>"$work/differences"
	fi
done
if [[ -s "$work/differences" ]]; then
	echo "repro-check: $(wc -l <"$work/differences") output(s) differ; work files kept in $work"
	exit 1
fi
echo "repro-check: all outputs identical"
[[ "${ICOS_REPRO_KEEP:-0}" == 1 ]] || rm -rf "$work"
