#!/bin/bash
# bench-stream.sh: the host's sequential read through the gadget of an
# image stored in vmediad vs the same image streamed from an HTTP server on
# the build host (nginx, reached over QEMU's user network): as it comes,
# with 10 ms added before every request to the server, and with one request
# per 16 KiB instead of per 512 KiB (tests/vm/bench/stream.sh says how).
# A benchmark, not a test: it prints a table and exits non-zero only if a
# row could not be measured.
# Usage: tests/vm/bench-stream.sh [SIZE_MB]   (default 1024; the guest's
# memory is sized to hold the stored copy)
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/host-lib.sh"
size=${1:-1024}
vm_tools || exit 1
command -v nginx > /dev/null || { echo "bench-stream: nginx missing (tools/deps.sh vm)" >&2; exit 1; }
image=$(vm_kernel 6.1) || exit 1
log=$logs/bench-stream.log
# Under the log folder, not /tmp: the guest sees the build host's files
# through its 9p root, and its own /tmp is a tmpfs.
work=$logs/bench-stream
rm -rf "$work"
mkdir -p "$work/srv" "$work/tmp"
dd if=/dev/urandom of="$work/srv/big.img" bs=1048576 count="$size" 2> /dev/null || exit 1
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $work/tmp;
    proxy_temp_path $work/tmp;
    fastcgi_temp_path $work/tmp;
    uwsgi_temp_path $work/tmp;
    scgi_temp_path $work/tmp;
    server {
        listen 127.0.0.1:$port;
        root $work/srv;
    }
}
CONF
nginx -c "$work/nginx.conf" -e "$work/nginx-error.log" &
nginx_pid=$!
trap 'kill $nginx_pid 2> /dev/null; rm -rf "$work"' EXIT
echo "bench-stream: 6.1 patched, $size MiB image, nginx on 127.0.0.1:$port..." >&2
VM_MEM=$((size + 768)) \
VM_APPEND="SIZE_MB=$size BENCH_IMG=$work/srv/big.img BENCH_URL=http://10.0.2.2:$port/big.img" \
	vm_boot "$image" 6.1 bench/stream $((size * 4 + 900)) "$log" \
	-netdev user,id=n0 -device virtio-net-pci,netdev=n0
rc=$?
if ! grep -q '^VMTEST PASS' "$log"; then
	grep -E '^VMTEST[ -](FAIL|INFO)' "$log" >&2
	echo "bench-stream: failed (qemu exit $rc; log: $log)" >&2
	exit 1
fi
grep '^VMTEST-INFO' "$log" | sed 's/^VMTEST-INFO /bench-stream: /' >&2
ref=$(awk '$1 == "VMBENCH" && $3 == "stored" { print $4 }' "$log")
printf '%-14s %9s %8s %9s %10s\n' row seconds "MiB/s" requests "vs stored"
awk -v ref="$ref" '$1 == "VMBENCH" && $2 == "stream" {
	printf "%-14s %9s %8s %9s %9.2fx\n", $3, $4, $5, $6, ref / $4 }' "$log"
