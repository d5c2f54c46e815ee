# lib.sh: shared pieces of the benchmarks (sourced, not run).
# Needs ROOT and WORK set by the caller.

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
now() { date +%s.%N; }
secs() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$@"; }
# mbps BYTES SECONDS
mbps() { python3 -c "import sys; print(f'{int(sys.argv[1]) / float(sys.argv[2]) / 1e6:.0f}')" "$1" "$2"; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# cpu_seconds PID: user+system CPU time the process has used so far
cpu_seconds() {
	awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}

# start_vmediad DIR -> sets VPORT, VPID
start_vmediad() {
	VPORT=$(free_port)
	# VMEDIAD_BIN and VMEDIAD_ARGS: compare another build or settings.
	# download.sh fetches from an nginx on 127.0.0.1, which vmediad refuses
	# unless told --allow-local-downloads.
	# shellcheck disable=SC2086
	"${VMEDIAD_BIN:-$ROOT/build/vmediad}" --listen 127.0.0.1:$VPORT --storage "$1" \
		--log-level warn --max-image-size 64G --allow-local-downloads ${VMEDIAD_ARGS:-} \
		2>"$WORK/vmediad.log" &
	VPID=$!
}

# start_nginx -> sets NPORT, NPID; serves and accepts WebDAV PUTs in $WORK/nginx/dav
# Its worker runs as whoever runs the benchmark (by default nginx started as
# root switches to www-data, which cannot reach a checkout under /root), so
# that $WORK can be anywhere, on the same disk as vmediad's storage.
start_nginx() {
	NPORT=$(free_port)
	mkdir -p "$WORK/nginx/dav" "$WORK/nginx/tmp"
	cat >"$WORK/nginx.conf" <<CONF
daemon off;
user $(id -un) $(id -gn);
worker_processes 1;
error_log $WORK/nginx/error.log warn;
pid $WORK/nginx/nginx.pid;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/tmp;
  server {
    listen 127.0.0.1:$NPORT;
    client_max_body_size 0;
    location / { root $WORK/nginx/dav; dav_methods PUT DELETE; create_full_put_path on; }
  }
}
CONF
	nginx -c "$WORK/nginx.conf" -e "$WORK/nginx/error.log" &
	NPID=$!
}

wait_http() {	# URL
	for _ in $(seq 100); do
		curl -s -o /dev/null "$1" && return 0
		sleep 0.05
	done
	echo "bench: $1 does not answer" >&2
	return 1
}
