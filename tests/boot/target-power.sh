#!/bin/bash
# target-power.sh on|off|cycle|reset|status|screen FILE.png
# Power button of the demo's target computer (VM 2; see README.md).
#   on      power on (QEMU starts; SeaBIOS scans USB once, then boots)
#   off     power off (QEMU quits; VM 1 exports the gadget again)
#   cycle   off, then on: what makes SeaBIOS look at the medium again
#   reset   the reset button (QEMU system_reset; the USB device stays attached)
#   status  on or off
#   screen  save the target's screen as a PNG
# BOOT_DEMO_DIR: the demo's state directory (default /tmp/vmedia-demo).
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
demo_state
alive "$STATE/kvmbox.pid" || { echo "target-power: the demo is not running (make demo)" >&2; exit 1; }

on() {
	target_on "" 0 setsid || exit 1
	echo "target: on (console: $STATE/target-console.log)"
}
off() {
	target_off || exit 1
	echo "target: off"
}

case "${1:-}" in
on) on ;;
off) off ;;
cycle) off; on ;;
reset)
	alive "$STATE/target.pid" || { echo "target: off" >&2; exit 1; }
	monitor "$STATE/target.mon" system_reset > /dev/null && echo "target: reset"
	;;
status) if alive "$STATE/target.pid"; then echo on; else echo off; fi ;;
screen)
	[ -n "${2:-}" ] || { echo "usage: target-power.sh screen FILE.png" >&2; exit 2; }
	alive "$STATE/target.pid" || { echo "target: off" >&2; exit 1; }
	screenshot "$2" && echo "target: screen saved as $2"
	;;
*) echo "usage: target-power.sh on|off|cycle|reset|status|screen FILE.png" >&2; exit 2 ;;
esac
