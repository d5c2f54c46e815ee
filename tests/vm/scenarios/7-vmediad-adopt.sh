# Scenario 7: vmediad --adopt drives a gadget another tool made (here
# guest/lib.sh's gadget_up: gadget g1, function mass_storage.0, two empty
# LUNs, bound). It creates nothing, inserts into the adopted LUN, and leaves
# the gadget bound with its medium when it stops.
# kernels: patched stock
# timeout: 240

. "$VMTEST_DIR/scenarios/vmediad.inc"

gadget_up "" ""
wait_for '[ -n "$(disk_of 1)" ]' 20 "the host to see LUN 1 of g1"
start_vmediad --adopt --gadget g1 --function mass_storage.0 --luns 2
grep -q "adopted mass_storage.0 of gadget g1 (UDC dummy_udc.0)" /tmp/vmediad.log ||
	fail_with_log "vmediad did not say it adopted g1"
[ ! -e /sys/kernel/config/usb_gadget/vmedia ] || fail_with_log "adopting created a gadget"
code=$(http GET /status)
[ "$(field .backend.gadget)" = g1 ] || fail_with_log "status names gadget $(field .backend.gadget)"

make_image /tmp/y.img 1024
upload /tmp/y.img y.img
insert 1 y.img
[ -n "$(cat "$(lun 1)/file")" ] || fail_with_log "lun.1/file of g1 is empty after the insert"
wait_for 'cmp -n 1048576 $(disk_of 1) /tmp/y.img' 20 "the host to read y.img from LUN 1"
[ -z "$(cat "$(lun 0)/file")" ] || fail_with_log "LUN 0 got a medium nobody inserted"

stop_vmediad
[ "$(cat $GADGET/UDC)" = dummy_udc.0 ] || fail_with_log "stopping vmediad unbound g1"
[ -n "$(cat "$(lun 1)/file")" ] || fail_with_log "stopping vmediad ejected LUN 1 of g1"
