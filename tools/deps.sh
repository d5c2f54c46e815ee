#!/bin/sh
# deps.sh: install what vmedia needs to build and test, idempotently.
# Usage: tools/deps.sh [build|test|vm|browser|deb|cross-arm64|cross-armhf|all]
# (default: build). A cross set adds the foreign architecture to dpkg first.
# Runs apt-get only for packages that are missing, and only as root; as
# another user it prints what is missing and fails.
set -eu

BUILD_PKGS="gcc make pkg-config libmicrohttpd-dev libjansson-dev libusbgx-dev libconfig-dev \
libcurl4-openssl-dev libssl-dev libarchive-dev zlib1g-dev dosfstools exfatprogs mtools sleuthkit libnbd-dev"
TEST_PKGS="libcmocka-dev clang libclang-rt-14-dev python3 python3-pytest python3-requests \
python3-jsonschema python3-yaml python3-sushy curl openssl kmod systemd wrk valgrind nginx-light libnginx-mod-http-dav-ext util-linux procps linux-perf \
nbdkit libnbd-bin openssh-server openssh-client xz-utils zstd bzip2 file prometheus"
VM_PKGS="linux-source-6.1 linux-source-6.12 flex bison bc libelf-dev libssl-dev cpio xz-utils \
qemu-system-x86 busybox-static ipxe grub-pc-bin grub-common xorriso mtools usbredirect jq \
patch gcc make git perl sg3-utils nbdkit nbd-client ovmf grub-efi-amd64-bin e2fsprogs nginx-light"
BROWSER_PKGS="chromium firefox-esr"
# make deb and its test suite (test includes them: make test builds the package)
DEB_PKGS="debhelper dpkg-dev fakeroot lintian"
# make ARCH=...: the cross compiler, pkg-config for it and the libraries of
# that architecture (multiarch); qemu-user-static runs the arm64 and armhf tests.
# Not libnbd: Debian 12's libnbd0 and libnbd-dev are not Multi-Arch: same,
# the foreign one would remove this machine's (and nbdkit with it); the
# build unpacks them instead (tools/cross-libnbd.sh), and needs what
# libnbd0 links to.
cross_pkgs() {	# ARCH TRIPLET
	echo "gcc-$2 libc6-dev:$1 pkgconf:$1 libmicrohttpd-dev:$1 libjansson-dev:$1 libusbgx-dev:$1 libconfig-dev:$1 \
libcurl4-openssl-dev:$1 libssl-dev:$1 libarchive-dev:$1 zlib1g-dev:$1 libgnutls30:$1 libxml2:$1 \
libcmocka-dev:$1 qemu-user-static"
}

want=""
foreign=""
for set in "${@:-build}"; do
	case "$set" in
	build) want="$want $BUILD_PKGS" ;;
	test) want="$want $BUILD_PKGS $TEST_PKGS $DEB_PKGS" ;;
	deb) want="$want $DEB_PKGS" ;;
	cross-arm64) want="$want $BUILD_PKGS $(cross_pkgs arm64 aarch64-linux-gnu)"; foreign="$foreign arm64" ;;
	cross-armhf) want="$want $BUILD_PKGS $(cross_pkgs armhf arm-linux-gnueabihf)"; foreign="$foreign armhf" ;;
	vm) want="$want $VM_PKGS" ;;
	browser) want="$want $BROWSER_PKGS" ;;
	all) want="$want $BUILD_PKGS $TEST_PKGS $DEB_PKGS $VM_PKGS $BROWSER_PKGS" ;;
	*) echo "deps: unknown set '$set' (build|test|vm|browser|deb|cross-arm64|cross-armhf|all)" >&2
	   exit 2 ;;
	esac
done

# Node.js and npm (the spec linter, the browser driver): the machine image
# ships them; if absent, Debian's packages do.
case " $* " in *" test "*|*" browser "*|*" all "*)
	command -v npm >/dev/null 2>&1 || want="$want nodejs npm" ;;
esac

# A foreign architecture dpkg does not know yet: added (as root), and the
# package lists fetched again so that its packages can be found.
update=""
for a in $foreign; do
	dpkg --print-foreign-architectures | grep -qx "$a" && continue
	if [ "$(id -u)" != 0 ]; then
		echo "deps: run as root, or: sudo dpkg --add-architecture $a && sudo apt-get update" >&2
		exit 1
	fi
	echo "deps: adding the foreign architecture $a" >&2
	dpkg --add-architecture "$a"
	update=1
done

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		case " $missing " in *" $p "*) ;; *) missing="$missing $p" ;; esac
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing Debian packages:$missing" >&2
	echo "deps: run as root, or: sudo apt-get install$missing" >&2
	exit 1
fi
echo "deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
[ -z "$update" ] || apt-get update -q >&2
if ! apt-get install -y -q --no-install-recommends $missing >&2; then
	apt-get update -q >&2
	apt-get install -y -q --no-install-recommends $missing >&2
fi
