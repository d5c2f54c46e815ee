# shellcheck shell=bash
# lib.sh: host side of the two-VM boot bench; sourced (bash) by test.sh,
# demo.sh and target-power.sh.
#   VM 1 "kvmbox": the 6.1 kernel patched by kernel-patch/ (cached by
#                  tests/vm/build-kernel.sh), vmediad + usbredirect, see
#                  kvmbox-init.sh; its ports 8080 (HTTP) and 4000 (USB over
#                  TCP) are forwarded to 127.0.0.1:$API_PORT and :$USB_PORT.
#   VM 2 "target": plain QEMU, SeaBIOS (or OVMF: TARGET_FIRMWARE=ovmf),
#                  qemu-xhci with a usb-redir device connected to $USB_PORT,
#                  bootindex=0.
# Everything a run needs lives in $STATE (a directory): logs, QEMU pid files
# and monitor sockets, the ports.

boot_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$boot_dir/../.." && pwd)
here=$repo/tests/vm		# what tests/vm/host-lib.sh expects
# shellcheck source=../vm/host-lib.sh
. "$here/host-lib.sh"		# cache, vm_kernel, tsc_args

VMEDIAD=$repo/build/vmediad

now_ms() { date +%s%3N; }

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# alive PIDFILE: the QEMU of that pid file runs.
alive() {
	[ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# stop_qemu PIDFILE: TERM, then KILL after 5 s; waits until it is gone.
stop_qemu() {
	local pid i=0
	[ -s "$1" ] || return 0
	pid=$(cat "$1")
	kill "$pid" 2>/dev/null
	while kill -0 "$pid" 2>/dev/null; do
		i=$((i + 1))
		[ $i = 50 ] && kill -9 "$pid" 2>/dev/null
		[ $i -gt 100 ] && return 1
		sleep 0.1
	done
	rm -f "$1"
}

# monitor SOCKET COMMAND: one HMP command on a QEMU monitor socket; prints
# what QEMU answered.
monitor() {
	python3 - "$1" "$2" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
buf = b""
def until_prompt():
    global buf
    while not buf.endswith(b"(qemu) "):
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
until_prompt()
buf = b""
s.sendall(sys.argv[2].encode() + b"\n")
until_prompt()
out = buf.decode(errors="replace").replace("\r", "")
lines = out.split("\n")[1:-1]   # drop the echoed command and the prompt
print("\n".join(l for l in lines if l.strip()))
PY
}

# console_text LOG: a serial log without carriage returns and escapes
# (OVMF's terminal also sends private ones such as ESC[=3h).
console_text() {
	tr -d '\r' < "$1" 2>/dev/null | sed 's/\x1b\[[0-9;=?]*[A-Za-z]//g'
}

# wait_line LOG REGEX SECONDS [PIDFILE]: wait until a line of LOG matches;
# gives up early when the QEMU of PIDFILE has exited. Returns 1 on timeout.
wait_line() {
	local deadline=$(( $(now_ms) + $3 * 1000 ))
	while ! console_text "$1" | grep -qE "$2"; do
		[ "$(now_ms)" -lt "$deadline" ] || return 1
		if [ -n "${4:-}" ] && ! alive "$4"; then
			console_text "$1" | grep -qE "$2"
			return
		fi
		sleep 0.05
	done
}

# --- VM 1 -------------------------------------------------------------------

# kvmbox_start LIMIT-SECONDS (0: none) [setsid]: boot VM 1 in the background.
# KVMBOX_KERNEL: 6.1 (patched, the default) or 6.1-stock; KVMBOX_PRELOAD:
# NAME:SHA256:PATH, an image put into vmediad's storage (kvmbox-init.sh).
kvmbox_start() {
	local limit=$1 image launcher=()
	image=$(vm_kernel "${KVMBOX_KERNEL:-6.1}") ||
		{ echo "boot: no kernel ${KVMBOX_KERNEL:-6.1} (tests/vm/build-kernel.sh)" >&2; return 1; }
	[ -x "$VMEDIAD" ] || { echo "boot: $VMEDIAD missing: run make first" >&2; return 1; }
	[ "${2:-}" = setsid ] && launcher=(setsid)
	API_PORT=$(free_port)
	USB_PORT=$(free_port)
	echo "API_PORT=$API_PORT USB_PORT=$USB_PORT" > "$STATE/ports"
	: > "$STATE/kvmbox.log"
	"${launcher[@]}" timeout --kill-after=5 "$limit" qemu-system-x86_64 -accel tcg \
		-m "${BOOT_KVMBOX_MEM:-1024}" -smp 1 -display none -no-reboot \
		-serial "file:$STATE/kvmbox.log" \
		-monitor "unix:$STATE/kvmbox.mon,server,nowait" -pidfile "$STATE/kvmbox.pid" \
		-kernel "$image" \
		-append "root=/dev/root rootfstype=9p rootflags=trans=virtio,version=9p2000.L ro
			init=$boot_dir/kvmbox-init.sh console=ttyS0 panic=-1 loglevel=4
			no_timer_check $tsc_args vmedia.luns=${BOOT_LUNS:-1}
			${KVMBOX_PRELOAD:+vmedia.preload=$KVMBOX_PRELOAD}" \
		-fsdev local,id=root,path=/,security_model=none,readonly=on,multidevs=remap \
		-device virtio-9p-pci,fsdev=root,mount_tag=/dev/root \
		-netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$API_PORT-:8080,hostfwd=tcp:127.0.0.1:$USB_PORT-:4000" \
		-device virtio-net-pci,netdev=n0 \
		< /dev/null > "$STATE/kvmbox.qemu.log" 2>&1 &
	API=http://127.0.0.1:$API_PORT
	wait_pidfile "$STATE/kvmbox.pid" "$STATE/kvmbox.qemu.log"
}

# wait_pidfile PIDFILE QEMU-LOG: wait (10 s at most) until that QEMU runs.
wait_pidfile() {
	local i=0
	until alive "$1"; do
		i=$((i + 1))
		[ $i -le 100 ] || { echo "boot: QEMU did not start: $(tail -3 "$2")" >&2; return 1; }
		sleep 0.1
	done
}

# shellcheck disable=SC2034 # API is for the scripts that source this
load_ports() {
	[ -f "$STATE/ports" ] && eval "$(tr ' ' '\n' < "$STATE/ports")"
	API=http://127.0.0.1:${API_PORT:-0}
}

# last_exporter: "UP N", "DOWN N" or "" (the last exporter line of VM 1).
last_exporter() {
	console_text "$STATE/kvmbox.log" | grep -oE '^VMEDIA-EXPORTER-(UP|DOWN) [0-9]+' |
		tail -1 | sed 's/^VMEDIA-EXPORTER-//'
}

# exporter_ready SECONDS [claim]: wait until usbredirect listens in VM 1, and
# it is a fresh one: not the one a previous power-on of VM 2 used (that one
# exits when its client goes away). "claim": note it as used.
exporter_ready() {
	local deadline=$(( $(now_ms) + $1 * 1000 )) used last
	used=$(cat "$STATE/exporter.used" 2>/dev/null || echo 0)
	while :; do
		last=$(last_exporter)
		case "$last" in
		"UP "*) [ "${last#UP }" -gt "$used" ] && break ;;
		esac
		[ "$(now_ms)" -lt "$deadline" ] || return 1
		alive "$STATE/kvmbox.pid" || return 1
		console_text "$STATE/kvmbox.log" | grep -q 'VMEDIA-KVMBOX FATAL' && return 1
		sleep 0.1
	done
	[ "${2:-}" = claim ] && echo "${last#UP }" > "$STATE/exporter.used"
	return 0
}

# --- VM 2 -------------------------------------------------------------------

# target_on TAG LIMIT-SECONDS (0: none) [setsid]: power VM 2 on; its serial
# console goes to $STATE/target$TAG-console.log (appended), SeaBIOS's debug
# port to $STATE/target$TAG-seabios.log. Waits for the exporter first:
# SeaBIOS scans USB once, at power-on. TARGET_FIRMWARE=ovmf: UEFI (Debian's
# OVMF) instead of SeaBIOS; its debug port goes to target$TAG-ovmf.log.
target_on() {
	local tag=$1 limit=$2 launcher=()
	alive "$STATE/target.pid" && { echo "target: already on" >&2; return 1; }
	[ "${3:-}" = setsid ] && launcher=(setsid)
	exporter_ready 60 claim || { echo "target: the exporter in VM 1 does not listen" >&2; return 1; }
	TARGET_CONSOLE=$STATE/target$tag-console.log
	TARGET_SEABIOS=$STATE/target$tag-seabios.log
	local firmware=()
	if [ "${TARGET_FIRMWARE:-seabios}" = ovmf ]; then
		TARGET_SEABIOS=$STATE/target$tag-ovmf.log
		firmware=(-bios /usr/share/ovmf/OVMF.fd)
	fi
	# TARGET_LINUX=bzImage: the target runs Linux (linux-target-init.sh)
	# from the host's / instead of booting from the medium.
	local linux=() bootindex=,bootindex=0
	if [ -n "${TARGET_LINUX:-}" ]; then
		bootindex=""	# -kernel takes bootindex 0 itself
		linux=(-kernel "$TARGET_LINUX"
			-append "root=/dev/root rootfstype=9p rootflags=trans=virtio,version=9p2000.L ro
				init=$boot_dir/linux-target-init.sh console=ttyS0 panic=-1 loglevel=4
				no_timer_check $tsc_args"
			-fsdev local,id=root,path=/,security_model=none,readonly=on,multidevs=remap
			-device virtio-9p-pci,fsdev=root,mount_tag=/dev/root)
	fi
	# shellcheck disable=SC2086 # BOOT_TARGET_EXTRA: a list of QEMU arguments
	"${launcher[@]}" timeout --kill-after=5 "$limit" qemu-system-x86_64 -accel tcg \
		-m ${BOOT_TARGET_MEM:-256} -smp 1 -nodefaults -display none -vga std ${BOOT_TARGET_EXTRA:-} \
		"${firmware[@]}" \
		-chardev "file,id=ser,path=$TARGET_CONSOLE,append=on" -serial chardev:ser \
		-chardev "file,id=dbg,path=$TARGET_SEABIOS" -device isa-debugcon,iobase=0x402,chardev=dbg \
		-device qemu-xhci,id=hc \
		-chardev "socket,id=ur,host=127.0.0.1,port=$USB_PORT" \
		-device "usb-redir,chardev=ur,bus=hc.0$bootindex" \
		-monitor "unix:$STATE/target.mon,server,nowait" -pidfile "$STATE/target.pid" \
		"${linux[@]}" < /dev/null > "$STATE/target.qemu.log" 2>&1 &
	wait_pidfile "$STATE/target.pid" "$STATE/target.qemu.log"
}

# target_off: power VM 2 off (QEMU quits), then wait until VM 1 exports the
# gadget again for the next power-on.
target_off() {
	alive "$STATE/target.pid" || return 0
	stop_qemu "$STATE/target.pid" || return 1
	# usbredirect notices its client is gone and exits; the loop restarts it.
	exporter_ready 30 || { echo "target: the exporter did not restart" >&2; return 1; }
}

# --- the demo ----------------------------------------------------------------

# screenshot OUT.png: VM 2's screen (QEMU screendump, PPM -> PNG in python).
screenshot() {
	local ppm=$STATE/screen.ppm out
	rm -f "$ppm"
	out=$(monitor "$STATE/target.mon" "screendump $ppm") || return 1
	[ -s "$ppm" ] || { echo "screendump: $out" >&2; return 1; }
	python3 - "$ppm" "$1" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
# P6 header: magic, width, height, maxval, each followed by whitespace
fields, pos = [], 0
while len(fields) < 4:
    while data[pos:pos + 1].isspace():
        pos += 1
    if data[pos:pos + 1] == b"#":
        pos = data.index(b"\n", pos)
        continue
    end = pos
    while not data[end:end + 1].isspace():
        end += 1
    fields.append(data[pos:end])
    pos = end
pos += 1
assert fields[0] == b"P6" and fields[3] == b"255", fields
w, h = int(fields[1]), int(fields[2])
pixels = data[pos:pos + w * h * 3]
raw = b"".join(b"\0" + pixels[y * w * 3:(y + 1) * w * 3] for y in range(h))
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) \
    + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
open(sys.argv[2], "wb").write(png)
PY
	rm -f "$ppm"
}

demo_state() {
	STATE=${BOOT_DEMO_DIR:-/tmp/vmedia-demo}
	mkdir -p "$STATE"
	load_ports
	VNC_DISPLAY=$(cat "$STATE/vnc" 2>/dev/null)
	# With nothing to boot, SeaBIOS retries (a reboot, so a new USB scan)
	# every 10 s instead of waiting forever.
	BOOT_TARGET_EXTRA="-boot reboot-timeout=10000"
	if [ -n "$VNC_DISPLAY" ]; then
		BOOT_TARGET_EXTRA="$BOOT_TARGET_EXTRA -vnc 127.0.0.1:$VNC_DISPLAY"
	fi
}
