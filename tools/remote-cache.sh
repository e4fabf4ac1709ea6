#!/usr/bin/env bash
# Starts (or stops) a Bazel HTTP remote cache on 127.0.0.1 for local use and CI:
# nginx from Debian (nginx-light) serving GET and WebDAV PUT of /ac/ and /cas/.
#
#   tools/remote-cache.sh start [PORT]   start it (default port 8095) in the background
#   tools/remote-cache.sh stop           stop it
#   tools/remote-cache.sh status         print the URL if it is running
#
# Then build with:  tools/bazel build --config=cache //ic-os/guestos:disk-img
# (--config=cache points at http://127.0.0.1:8095; for another server put
# build --remote_cache=http://HOST:PORT in user.bazelrc).
# The store lives in $ICOS_REMOTE_CACHE_DIR (default ~/.cache/icos-remote-cache).
set -euo pipefail
dir="${ICOS_REMOTE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/icos-remote-cache}"
port="${2:-8095}"
conf="$dir/nginx.conf"
pidfile="$dir/nginx.pid"

running() { [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case "${1:-}" in
start)
	if running; then
		echo "remote cache already running: http://127.0.0.1:$(cat "$dir/port")"
		exit 0
	fi
	command -v nginx >/dev/null || PATH=$PATH:/usr/sbin
	command -v nginx >/dev/null || {
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
	}
	mkdir -p "$dir/store" "$dir/tmp"
	cat >"$conf" <<NGINX
worker_processes 2;
pid $pidfile;
error_log $dir/error.log warn;
user $(id -un) $(id -gn);
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $dir/tmp;
	server {
		listen 127.0.0.1:$port;
		root $dir/store;
		client_max_body_size 0;
		location / {
			dav_methods PUT;
			create_full_put_path on;
			dav_access user:rw group:r all:r;
		}
	}
}
NGINX
	echo "$port" >"$dir/port"
	nginx -c "$conf" -e "$dir/error.log"
	for _ in $(seq 50); do
		running && break
		sleep 0.1
	done
	running || { echo "nginx did not start; see $dir/error.log" >&2; exit 1; }
	echo "remote cache running: http://127.0.0.1:$port (store $dir/store)"
	;;
stop)
	if running; then
		nginx -c "$conf" -s stop
		echo "remote cache stopped"
	fi
	;;
status)
	running && echo "http://127.0.0.1:$(cat "$dir/port")" || { echo "not running"; exit 1; }
	;;
*)
	echo "usage: $0 start [PORT] | stop | status" >&2
	exit 2
	;;
esac
