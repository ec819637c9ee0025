#!/usr/bin/env bash
# tests/fresh/run.sh: does `make check` pass on a bare Debian 12 machine with only the README's commands?
#
#   sudo tests/fresh/run.sh [--repo PATH] [--branch NAME] [--dir DIR] [--demo] [--new-base] [--keep]
#
# Builds a bare Debian 12 (bookworm) root with debootstrap (variant minbase plus git and make: what the README's
# "git clone, then make" presumes), clones the repository into it with the root's own git, and runs as root in a
# chroot only what the README says: `make check` (and, with --demo, `make demo` first, as README orders them).
# `make deps` inside installs the rest from the Debian mirror. The CUDA toolkit (/usr/local/cuda) is absent there,
# so the build is CPU-only. The bare root is built once and kept as DIR/base.tar.gz (--new-base rebuilds it);
# every run starts from a fresh copy of it in DIR/root, removed at the end unless --keep.
# The last line is "fresh: make check: N passed, N failed" (or why it did not get that far); exit status 0 only
# when make check passed.
#   --repo PATH     repository (or a worktree of it) to clone from (default /work/main)
#   --branch NAME   branch to clone (default: the branch checked out at --repo)
#   --dir DIR       work folder (default /var/tmp/avsl-fresh); the full log is DIR/log
set -u
REPO=/work/main BRANCH= DIR=/var/tmp/avsl-fresh DEMO=0 NEWBASE=0 KEEP=0
MIRROR=${MIRROR:-http://deb.debian.org/debian}
while [ $# -gt 0 ]; do
	case $1 in
	--repo) REPO=$2; shift 2 ;;
	--branch) BRANCH=$2; shift 2 ;;
	--dir) DIR=$2; shift 2 ;;
	--demo) DEMO=1; shift ;;
	--new-base) NEWBASE=1; shift ;;
	--keep) KEEP=1; shift ;;
	-h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "usage: $0 [--repo PATH] [--branch NAME] [--dir DIR] [--demo] [--new-base] [--keep]" >&2; exit 2 ;;
	esac
done
fail() { echo "fresh: $*"; exit 1; }
[ "$(id -u)" = 0 ] || fail "must run as root (debootstrap, chroot, mount)"
command -v debootstrap >/dev/null || { apt-get install -y -q debootstrap >/dev/null 2>&1 || fail "cannot install debootstrap"; }
GITDIR=$(git -C "$REPO" rev-parse --path-format=absolute --git-common-dir 2>/dev/null) || fail "$REPO: not a git repository"
[ -n "$BRANCH" ] || BRANCH=$(git -C "$REPO" rev-parse --abbrev-ref HEAD)
git -C "$REPO" rev-parse --verify -q "refs/heads/$BRANCH" >/dev/null || fail "$REPO: no branch $BRANCH"

mkdir -p "$DIR"
ROOT=$DIR/root LOG=$DIR/log BASE=$DIR/base.tar.gz
: >"$LOG"
MOUNTS=()
cleanup() {
	local i
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount "${MOUNTS[i]}" 2>/dev/null || umount -l "${MOUNTS[i]}"; done
	MOUNTS=()
	# never delete through a mount that is still there
	if [ "$KEEP" = 0 ] && [ -d "$ROOT" ] && ! grep -q " $ROOT/" /proc/mounts; then rm -rf "$ROOT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
mnt() { # mnt TARGET mount-args...: mount and remember it for cleanup
	local target=$1
	shift
	mkdir -p "$target" && mount "$@" "$target" && MOUNTS+=("$target")
}

if grep -q " $ROOT/" /proc/mounts; then fail "$ROOT still has mounts (an earlier run died?): unmount them first"; fi
rm -rf "$ROOT"
if [ "$NEWBASE" = 1 ] || [ ! -s "$BASE" ]; then
	echo "fresh: debootstrap bookworm from $MIRROR (log: $LOG)"
	rm -rf "$DIR/base"
	debootstrap --variant=minbase --include=git,make,ca-certificates bookworm "$DIR/base" "$MIRROR" >>"$LOG" 2>&1 ||
		fail "debootstrap failed (tail of $LOG: $(tail -n 3 "$LOG" | tr '\n' ' '))"
	cat >"$DIR/base/etc/apt/sources.list" <<SRC
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb ${MIRROR%/debian}/debian-security bookworm-security main
SRC
	rm -rf "$DIR/base/var/cache/apt/archives/"*.deb
	tar -C "$DIR/base" -czf "$BASE.tmp" . && mv "$BASE.tmp" "$BASE" || fail "cannot write $BASE"
	rm -rf "$DIR/base"
fi
mkdir -p "$ROOT" && tar -C "$ROOT" -xzf "$BASE" || fail "cannot unpack $BASE"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null
mnt "$ROOT/proc" -t proc proc || fail "cannot mount /proc"
mnt "$ROOT/sys" -t sysfs -o ro sysfs || fail "cannot mount /sys"
mnt "$ROOT/dev" --bind /dev || fail "cannot bind /dev"
mnt "$ROOT/dev/pts" --bind /dev/pts || fail "cannot bind /dev/pts"
mnt "$ROOT/dev/shm" -t tmpfs tmpfs || fail "cannot mount /dev/shm"
mnt "$ROOT/mnt/src.git" --bind -o ro "$GITDIR" || fail "cannot bind $GITDIR"
[ -e "$ROOT/usr/local/cuda" ] && fail "$ROOT/usr/local/cuda exists: not a bare root"

# What a new user types: clone, then the README's commands, as root.
steps="git clone -q --branch '$BRANCH' /mnt/src.git /root/avsl && cd /root/avsl && git log -1 --format='fresh: commit %h %s'"
[ "$DEMO" = 1 ] && steps="$steps && make demo"
steps="$steps && make check"
echo "fresh: cloning $BRANCH of $REPO into a bare bookworm root and running:$([ "$DEMO" = 1 ] && echo ' make demo;') make check"
start=$(date +%s)
chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	LANG=C.UTF-8 TERM=dumb /bin/bash -c "$steps" 2>&1 | tee -a "$LOG"
status=${PIPESTATUS[0]}
secs=$(($(date +%s) - start))
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$LOG" | tail -n 1)
if [ "$status" = 0 ] && [ -n "$summary" ]; then
	echo "fresh: make check: $summary ($secs s, branch $BRANCH)"
	exit 0
fi
echo "fresh: FAILED (status $status after $secs s, branch $BRANCH): ${summary:-no summary line}; log: $LOG"
exit 1
