#!/bin/bash
# demo.sh start|stop: `make demo` / `make demo-stop`. Boots VM 1 (vmediad on
# the patched kernel, gadget exported over TCP) and VM 2 (the target, SeaBIOS,
# powered on with no medium) and leaves them running with no time limit.
# BOOT_DEMO_DIR: where logs, pid files and sockets go (default /tmp/vmedia-demo).
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
demo_state

show() {
	cat <<TXT
demo: running (state in $STATE)
  web UI / API:     http://127.0.0.1:$API_PORT/   (no authentication: bound to 127.0.0.1 only)
  a bootable image: $STATE/vmedia-demo.iso   (GRUB, reports on the serial console)
  target console:   tail -f $STATE/target-console.log
  target BIOS log:  $STATE/target-seabios.log
  target screen:    VNC 127.0.0.1:$((5900 + VNC_DISPLAY)), or tests/boot/target-power.sh screen FILE.png
  power:            tests/boot/target-power.sh on|off|cycle|reset|status
                    (SeaBIOS scans USB at power-on and reset; with nothing bootable it
                    retries every 10 s, so an inserted image boots by itself)
  VM 1 console:     $STATE/kvmbox.log
  stop:             make demo-stop
TXT
}

stop() {
	stop_qemu "$STATE/target.pid"
	stop_qemu "$STATE/kvmbox.pid"
	rm -f "$STATE/target.mon" "$STATE/kvmbox.mon"
}

case "${1:-start}" in
start)
	if alive "$STATE/kvmbox.pid"; then
		show
		exit 0
	fi
	stop
	rm -rf "$STATE"
	mkdir -p "$STATE"
	python3 -c 'import socket
for d in range(10, 100):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 5900 + d))
    except OSError:
        continue
    print(d)
    break' > "$STATE/vnc"
	demo_state
	echo "demo: booting VM 1 (the KVM box; about 10-60 s under TCG)" >&2
	BOOT_KVMBOX_MEM=${BOOT_KVMBOX_MEM:-2048} kvmbox_start 0 setsid || exit 1
	load_ports
	"$boot_dir/make-iso.sh" "$STATE/vmedia-demo.iso" demo ||
		echo "demo: (could not build the sample image)" >&2
	exporter_ready 300 || { echo "demo: VM 1 did not come up; see $STATE/kvmbox.log" >&2; stop; exit 1; }
	target_on "" 0 setsid || { stop; exit 1; }
	show
	;;
stop)
	stop
	echo "demo: stopped"
	;;
*) echo "usage: demo.sh start|stop" >&2; exit 2 ;;
esac
