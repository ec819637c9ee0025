#!/usr/bin/env bash
# The bad-input corpus: named cases across every tool and file format (truncations, wrong magic, huge dimensions,
# NaN/Inf, mismatched D, a graph of another shard, contradictory checkpoint metadata, FIFOs and directories,
# /dev/full, planted symlinks at temporary names, signals in the middle of a write). Each case asserts
#   - the exit status,
#   - stderr: exactly one line, naming the file (or "standard output") and what is wrong,
#   - nothing left behind: no file at the final output name and no temporary (NAME.tmp.*).
# Inputs are made here from the synthetic set and a tiny model trained for one epoch (seconds).
. "$(dirname "$0")/lib.sh"
D=$T/synth
synth "$D" 4 300 16 5
avsl-prep -q --layout idx --split train --per-class 12 -o "$D/train.avs" "$D"
avsl-prep -q --layout idx --split test --per-class 12 -o "$D/test.avs" "$D"
avsl-prep -q --layout idx --split test -o "$D/big.avs" "$D" # 1200 images: runs long enough to be signalled
avsl-train -q --data_path "$D/train.avs" --splits_to_eval train --arch cifar_resnet18 --base-width 4 --channels 1 \
	--input-size 16 --resize 0 --mean 0.2 --std 0.3 --embeddings_dim 16 --topk_corr 4 --batch_size 24 \
	--test_batch_size 48 --warm_up 0 --epochs 1 --seed 3 --threads 1 -o "$T/run" 2>"$T/train.err" ||
	{ echo "FAIL bad_input_setup: $(head -c 300 "$T/train.err")"; exit 1; }
M=$T/run/model.safetensors
S=$D/test.avs
avsl-embed -q -t 1 -m "$M" "$S" -o "$T/test.ave"
avsl-graph -q --threads 1 -m "$M" -k 3 "$T/test.ave" -o "$T/test.avg"
B=$T/bad
mkdir -p "$B" "$T/out"
O=$T/out

# bad NAME STATUS MESSAGE_RE OUTPUT -- command...
# OUTPUT: the path the command would write ("-" when it writes only to stdout); neither OUTPUT nor OUTPUT.tmp.*
# may exist afterwards. stderr must be one line matching MESSAGE_RE.
bad() {
	local name=$1 status=$2 re=$3 out=$4
	shift 4
	[ "$1" = "--" ] && shift
	local got=0
	[ "$out" != - ] && rm -rf "$out" "$out".tmp.*
	"$@" >"$T/bad.out" 2>"$T/bad.err" </dev/null || got=$?
	if [ "$got" != "$status" ]; then
		echo "FAIL $name: exit status $got, expected $status; stderr: $(head -c 300 "$T/bad.err")"
	elif [ "$(wc -l <"$T/bad.err")" != 1 ]; then
		echo "FAIL $name: stderr is not one line: $(head -c 300 "$T/bad.err")"
	elif ! grep -Eq -- "$re" "$T/bad.err"; then
		echo "FAIL $name: stderr does not match /$re/: $(head -c 300 "$T/bad.err")"
	elif [ "$out" != - ] && { [ -e "$out" ] || compgen -G "$out.tmp.*" >/dev/null; }; then
		echo "FAIL $name: left $(ls -d "$out" "$out".tmp.* 2>/dev/null | head -n 3 | tr '\n' ' ')"
	else
		echo "PASS $name"
	fi
}

# cut FILE BYTES OUT: the first BYTES bytes of FILE
cut_to() { head -c "$2" "$1" >"$3"; }
# patch FILE OFFSET HEXBYTES OUT: a copy with bytes overwritten at OFFSET
patch() {
	cp "$1" "$4"
	printf "$(echo "$3" | sed 's/\(..\)/\\x\1/g')" | dd of="$4" bs=1 seek="$2" conv=notrunc status=none
}
size() { stat -c %s "$1"; }

# ---- shards (.avs, .avsm): avsl-embed, avsl-prep --list/--verify, avsl-train ---------------------------------
: >"$B/empty.avs"
bad avs_empty 1 'empty\.avs' "$O/e.ave" -- avsl-embed -q -m "$M" -o "$O/e.ave" "$B/empty.avs"
patch "$S" 0 00000000 "$B/magic.avs"
bad avs_wrong_magic 1 'magic\.avs' "$O/e.ave" -- avsl-embed -q -m "$M" -o "$O/e.ave" "$B/magic.avs"
cut_to "$S" 10 "$B/head10.avs"
bad avs_truncated_header 1 'head10\.avs' "$O/e.ave" -- avsl-embed -q -m "$M" -o "$O/e.ave" "$B/head10.avs"
cut_to "$S" $(($(size "$S") / 2)) "$B/half.avs"
bad avs_truncated_half 1 'half\.avs' "$O/e.ave" -- avsl-embed -q -m "$M" -o "$O/e.ave" "$B/half.avs"
cut_to "$S" $(($(size "$S") - 1)) "$B/minus1.avs"
bad avs_truncated_last_byte 1 'minus1\.avs' - -- avsl-prep --verify "$B/minus1.avs"
bad avs_list_truncated 1 'half\.avs' - -- avsl-prep --list "$B/half.avs"
mkdir "$B/dir.avs"
bad avs_is_directory 1 'dir\.avs' "$O/e.ave" -- avsl-embed -q -m "$M" -o "$O/e.ave" "$B/dir.avs"
bad avs_missing 1 'nope\.avs' "$O/e.ave" -- avsl-embed -q -m "$M" -o "$O/e.ave" "$B/nope.avs"
printf 'not a manifest\n' >"$B/bad.avsm"
bad avsm_wrong_magic 1 'bad\.avsm' "$O/e.ave" -- avsl-embed -q -m "$M" -o "$O/e.ave" "$B/bad.avsm"
avsl-prep -q --layout idx --split test --shard-size 10 -o "$B/multi" "$D"
rm "$B/multi-test-00001.avs"
bad avsm_shard_missing 1 'multi-test-00001\.avs' - -- avsl-prep --verify "$B/multi-test.avsm"
bad train_on_truncated_shard 1 'half\.avs' "$O/run" -- avsl-train -q --data_path "$B/half.avs" \
	--splits_to_eval train --arch cifar_resnet18 --base-width 4 --channels 1 --input-size 16 --resize 0 \
	--embeddings_dim 16 --topk_corr 4 --epochs 1 -o "$O/run"

# ---- embeddings (.ave): avsl-graph, avsl-eval ------------------------------------------------------------------
: >"$B/empty.ave"
bad ave_empty 1 'empty\.ave' "$O/g.avg" -- avsl-graph -q -o "$O/g.avg" "$B/empty.ave"
patch "$T/test.ave" 0 00 "$B/magic.ave"
bad ave_wrong_magic 1 'magic\.ave' "$O/g.avg" -- avsl-graph -q -o "$O/g.avg" "$B/magic.ave"
cut_to "$T/test.ave" 20 "$B/head20.ave"
bad ave_truncated_header 1 'head20\.ave' "$O/g.avg" -- avsl-graph -q -o "$O/g.avg" "$B/head20.ave"
cut_to "$T/test.ave" $(($(size "$T/test.ave") - 7)) "$B/cut.ave"
bad ave_truncated_record 1 'cut\.ave' "$O/g.avg" -- avsl-graph -q -o "$O/g.avg" "$B/cut.ave"
patch "$T/test.ave" 8 0200 "$B/major2.ave"
bad ave_major_version_2 1 'major2\.ave' "$O/g.avg" -- avsl-graph -q -o "$O/g.avg" "$B/major2.ave"
patch "$T/test.ave" 32 00000080 "$B/hugedim.ave"
bad ave_huge_dimension 1 'hugedim\.ave' "$O/g.avg" -- avsl-graph -q -o "$O/g.avg" "$B/hugedim.ave"
patch "$T/test.ave" 14 0900 "$B/levels9.ave"
bad ave_nine_levels 1 'levels9\.ave' "$O/g.avg" -- avsl-graph -q -o "$O/g.avg" "$B/levels9.ave"
patch "$T/test.ave" 80 0000c07f "$B/nan.ave"
bad ave_nan_embedding 1 'nan\.ave' "$O/g.avg" -- avsl-graph -q -m "$M" -o "$O/g.avg" "$B/nan.ave"
patch "$T/test.ave" 80 0000807f "$B/inf.ave"
bad ave_inf_embedding 1 'inf\.ave' "$O/g.avg" -- avsl-graph -q -o "$O/g.avg" "$B/inf.ave"
# a gallery of another dimension: the header says D 8 on every level and the records are cut to match
/usr/bin/python3 - "$T/test.ave" "$B/d8.ave" <<'PY'
import struct, sys
b = open(sys.argv[1], 'rb').read()
levels, flags = struct.unpack_from('<H', b, 14)[0], struct.unpack_from('<I', b, 16)[0]
count = struct.unpack_from('<Q', b, 24)[0]
dims = struct.unpack_from('<8I', b, 32)
nvec = levels * (2 if flags & 1 else 1)
rec = 16 + 4 * nvec * dims[0]
out = bytearray(b[:64])
struct.pack_into('<8I', out, 32, *[8 if l < levels else 0 for l in range(8)])
for i in range(count):
    r = b[64 + i * rec: 64 + (i + 1) * rec]
    out += r[:16] + b''.join(r[16 + 4 * dims[0] * v: 16 + 4 * dims[0] * v + 32] for v in range(nvec))
open(sys.argv[2], 'wb').write(out)
PY
bad ave_gallery_other_dimension 1 'test\.ave: level 0: query dimension 16, gallery 8' "$O/g.avg" -- avsl-graph -q -g "$B/d8.ave" -o "$O/g.avg" "$T/test.ave"
bad ave_model_other_dimension 1 'd8\.ave|model\.safetensors' "$O/g.avg" -- avsl-graph -q -m "$M" -o "$O/g.avg" "$B/d8.ave"
mkdir "$B/dir.ave"
bad ave_is_directory 1 'dir\.ave' "$O/g.avg" -- avsl-graph -q -o "$O/g.avg" "$B/dir.ave"
bad eval_on_truncated_ave 1 'cut\.ave' "$O/r.txt" -- avsl-eval --emb "$B/cut.ave" -o "$O/r.txt"

# ---- neighbour graphs (.avg): avsl-eval, avsl-explain ----------------------------------------------------------
: >"$B/empty.avg"
bad avg_empty 1 'empty\.avg' "$O/r.txt" -- avsl-eval -o "$O/r.txt" "$B/empty.avg"
patch "$T/test.avg" 0 00 "$B/magic.avg"
bad avg_wrong_magic 1 'magic\.avg' "$O/r.txt" -- avsl-eval -o "$O/r.txt" "$B/magic.avg"
cut_to "$T/test.avg" $(($(size "$T/test.avg") - 5)) "$B/cut.avg"
bad avg_truncated_record 1 'cut\.avg' "$O/r.txt" -- avsl-eval -o "$O/r.txt" "$B/cut.avg"
patch "$T/test.avg" 12 00000000 "$B/k0.avg"
bad avg_k_zero 1 'k0\.avg' "$O/r.txt" -- avsl-eval -o "$O/r.txt" "$B/k0.avg"
avsl-graph -q -k 3 "$B/d8.ave" -o "$B/other.avg" 2>/dev/null # ids of test.avs, distances of another model
avsl-graph -q -m "$M" -k 3 "$T/test.ave" -g "$T/test.ave" -o "$B/self.avg"
avsl-prep -q --layout idx --split test --per-class 6 -o "$B/small.avs" "$D"
bad avg_other_shard 1 'test\.avg: query [0-9]+: neighbour id [0-9]+ is not a record of .*small\.avs' "$O/x.txt" -- \
	avsl-explain -m "$M" --shard "$B/small.avs" --graph "$T/test.avg" --query 0 -o "$O/x.txt"
bad avg_truncated_explain 1 'cut\.avg' "$O/x.txt" -- avsl-explain -m "$M" --shard "$S" --graph "$B/cut.avg" --query 47 -o "$O/x.txt"

# ---- checkpoints (.safetensors): avsl-embed, avsl-explain, avsl-graph, avsl-train --resume -------------------
ST=$AVSL_ROOT/tests/cli/st_meta.py
: >"$B/empty.safetensors"
bad ck_empty 1 'empty\.safetensors' "$O/e.ave" -- avsl-embed -q -m "$B/empty.safetensors" -o "$O/e.ave" "$S"
cut_to "$M" $(($(size "$M") - 100)) "$B/cut.safetensors"
bad ck_truncated 1 'cut\.safetensors' "$O/e.ave" -- avsl-embed -q -m "$B/cut.safetensors" -o "$O/e.ave" "$S"
patch "$M" 0 ffffffffffffff7f "$B/hugeheader.safetensors"
bad ck_huge_header_length 1 'hugeheader\.safetensors' "$O/e.ave" -- avsl-embed -q -m "$B/hugeheader.safetensors" -o "$O/e.ave" "$S"
/usr/bin/python3 "$ST" "$M" "$B/v2.safetensors" avsl.format_version=2.0
bad ck_version_2_embed 1 'v2\.safetensors: .*format_version 2\.0' "$O/e.ave" -- avsl-embed -q -m "$B/v2.safetensors" -o "$O/e.ave" "$S"
bad ck_version_2_graph 1 'v2\.safetensors: .*format_version 2\.0' "$O/g.avg" -- avsl-graph -q -m "$B/v2.safetensors" -o "$O/g.avg" "$T/test.ave"
bad ck_version_2_explain 1 'v2\.safetensors: .*format_version 2\.0' "$O/x.txt" -- avsl-explain -m "$B/v2.safetensors" --shard "$S" --pair 0 1 -o "$O/x.txt"
/usr/bin/python3 "$ST" "$M" "$B/nov.safetensors" avsl.format_version=
bad ck_no_version_graph 1 'nov\.safetensors: .*format_version' "$O/g.avg" -- avsl-graph -q -m "$B/nov.safetensors" -o "$O/g.avg" "$T/test.ave"
bad ck_no_version_resume 1 'nov\.safetensors: .*format_version' "$O/run" -- avsl-train -q --resume "$B/nov.safetensors" -o "$O/run"
/usr/bin/python3 "$ST" "$M" "$B/dim.safetensors" avsl.embeddings_dim=32
bad ck_contradicts_dim_embed 1 'dim\.safetensors: .*avsl\.embeddings_dim: 32 contradicts' "$O/e.ave" -- avsl-embed -q -m "$B/dim.safetensors" -o "$O/e.ave" "$S"
bad ck_contradicts_dim_explain 1 'dim\.safetensors: .*avsl\.embeddings_dim: 32 contradicts' "$O/x.txt" -- avsl-explain -m "$B/dim.safetensors" --shard "$S" --pair 0 1 -o "$O/x.txt"
/usr/bin/python3 "$ST" "$M" "$B/levels.safetensors" avsl.levels=2
bad ck_contradicts_levels 1 'levels\.safetensors: .*avsl\.levels: 2 contradicts' "$O/e.ave" -- avsl-embed -q -m "$B/levels.safetensors" -o "$O/e.ave" "$S"
/usr/bin/python3 "$ST" "$M" "$B/arch.safetensors" avsl.arch=resnet50
bad ck_contradicts_arch 1 "arch\\.safetensors: .*avsl\\.arch: 'resnet50' contradicts" "$O/x.txt" -- avsl-explain -m "$B/arch.safetensors" --shard "$S" --pair 0 1 -o "$O/x.txt"
/usr/bin/python3 "$ST" "$M" "$B/std0.safetensors" \
	'avsl.input={"size":16,"resize":0,"channels":1,"mean":[0.2,0.2,0.2],"std":[0,0,0]}'
bad ck_contradicts_input_std 1 "std0\\.safetensors: .*avsl\\.input: 'std' contradicts" "$O/e.ave" -- avsl-embed -q -m "$B/std0.safetensors" -o "$O/e.ave" "$S"
/usr/bin/python3 "$ST" "$M" "$B/topk.safetensors" avsl.topk_corr=17
bad ck_topk_above_dim_graph 1 'topk\.safetensors: .*avsl\.topk_corr: 17 contradicts' "$O/g.avg" -- avsl-graph -q -m "$B/topk.safetensors" -o "$O/g.avg" "$T/test.ave"
bad ck_topk_above_dim_embed 1 'topk\.safetensors: .*avsl\.topk_corr: 17 contradicts' "$O/e.ave" -- avsl-embed -q -m "$B/topk.safetensors" -o "$O/e.ave" "$S"
/usr/bin/python3 "$ST" "$M" "$B/setting.safetensors" avsl.setting=proxy_anchor
bad ck_contradicts_setting 1 "setting\\.safetensors: .*avsl\\.setting: 'proxy_anchor' contradicts" "$O/e.ave" -- avsl-embed -q -m "$B/setting.safetensors" -o "$O/e.ave" "$S"
bad ck_is_a_shard 1 'test\.avs' "$O/e.ave" -- avsl-embed -q -m "$S" -o "$O/e.ave" "$S"

# ---- images (avsl-prep over an image folder) ------------------------------------------------------------------
I=$T/img
mkdir -p "$I/train/a" "$I/train/b"
/usr/bin/python3 - "$I" <<'PY'
import struct, sys, zlib
root = sys.argv[1]
def chunk(t, d):
    return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
def png(w, h, rows):
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0)) +
            chunk(b'IDAT', zlib.compress(rows, 9)) + chunk(b'IEND', b''))
good = png(8, 8, b''.join(b'\0' + bytes(range(8)) for _ in range(8)))
for c in 'ab':
    for i in range(3):
        open(f'{root}/train/{c}/ok{i}.png', 'wb').write(good)
bad = bytearray(good)
bad[30] ^= 1  # inside IHDR's data: its CRC no longer matches
open(f'{root}/train/a/crc.png', 'wb').write(bad)
open(f'{root}/train/a/short.png', 'wb').write(good[:20])
# a zlib bomb: 16000 x 16000 gray, all zero, about 250 kB compressed
z = zlib.compressobj(9)
row = b'\0' * 16001
bomb = b''.join(z.compress(row) for _ in range(16000)) + z.flush()
open(f'{root}/train/b/bomb.png', 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 16000, 16000, 8, 0, 0, 0, 0)) + chunk(b'IDAT', bomb) + chunk(b'IEND', b''))
open(f'{root}/train/b/text.jpg', 'w').write('not an image\n')
PY
ln -s "$I/nowhere.png" "$I/train/a/dangling.png"
mkfifo "$I/train/b/fifo.png"
mkdir "$I/train/b/folder.jpg"
strict() { avsl-prep -q --strict --split train --layout imagefolder --no-resize -o "$O/img.avs" "$@"; }
one() { # one bad file $1 beside the good ones, in a folder of its own
	rm -rf "$T/one" && mkdir -p "$T/one/train/a" && cp "$I/train/a/ok0.png" "$T/one/train/a/" &&
		cp -P "$1" "$T/one/train/a/" 2>/dev/null || { rm -rf "$T/one/train/a/$(basename "$1")"; mkfifo "$T/one/train/a/$(basename "$1")"; }
}
one "$I/train/a/crc.png"
bad png_bad_crc_strict 1 "crc\\.png: PNG chunk 'IHDR' at byte 8: CRC mismatch" "$O/img.avs" -- strict "$T/one"
one "$I/train/a/short.png"
bad png_truncated_strict 1 'short\.png: truncated PNG' "$O/img.avs" -- strict "$T/one"
one "$I/train/b/bomb.png"
bad png_zlib_bomb_strict 1 'bomb\.png: 16000x16000 pixels, more than the 89478485 allowed' "$O/img.avs" -- strict "$T/one"
bad png_bomb_over_byte_limit 1 'bomb\.png: .*more than the 1000000 allowed \(--max-image-bytes\)' "$O/img.avs" -- \
	strict --max-pixels 300000000 --max-image-bytes 1000000 "$T/one"
one "$I/train/a/dangling.png"
bad dangling_symlink_strict 1 'dangling\.png: dangling symbolic link' "$O/img.avs" -- strict "$T/one"
rm -rf "$T/one" && mkdir -p "$T/one/train/a" && cp "$I/train/a/ok0.png" "$T/one/train/a/" && mkfifo "$T/one/train/a/fifo.png"
bad fifo_strict 1 'fifo\.png: not a regular file \(a FIFO\)' "$O/img.avs" -- timeout 20 avsl-prep -q --strict --split train --layout imagefolder --no-resize -o "$O/img.avs" "$T/one"
rm -rf "$T/one" && mkdir -p "$T/one/train/a/folder.jpg" && cp "$I/train/a/ok0.png" "$T/one/train/a/"
bad directory_named_jpg_strict 1 'folder\.jpg: not a regular file \(a directory\)' "$O/img.avs" -- strict "$T/one"
rm -rf "$T/one" && mkdir -p "$T/one/train/a" && cp "$I/train/b/text.jpg" "$I/train/a/ok0.png" "$T/one/train/a/"
bad not_an_image_strict 1 'text\.jpg' "$O/img.avs" -- strict "$T/one"
# without --strict: every bad path named once and counted, the good images kept
timeout 60 avsl-prep --split train --layout imagefolder --no-resize -o "$O/img.avs" "$I" 2>"$T/skip.err"
check skipped_all_named "for f in crc.png short.png bomb.png dangling.png fifo.png folder.jpg text.jpg; do
	[ \$(grep -c \"/\$f: .*skipped\" $T/skip.err) = 1 ] || { echo \$f; exit 1; }; done"
check skipped_counted "grep -q ': 6 images, 2 classes, 7 skipped' $T/skip.err"
check skipped_run_kept_good "[ \$(avsl-prep --list $O/img.avs | wc -l) = 6 ]"
rm -f "$O/img.avs"
# an unreadable class folder (as an unprivileged user: root reads anything): named, skipped, counted
if command -v setpriv >/dev/null && [ "$(id -u)" = 0 ]; then
	U=$T/unpriv && mkdir -p "$U/train/a" "$U/train/b" && cp "$I/train/a/ok0.png" "$U/train/a/" &&
		cp "$I/train/a/ok0.png" "$U/train/b/" && chmod 000 "$U/train/b" && chmod 777 "$U" "$T" && chmod 755 "$U/train" "$U/train/a"
	nobody() { setpriv --reuid 65534 --regid 65534 --clear-groups "$@"; }
	bad unreadable_class_strict 1 'train/b: Permission denied' "$U/o.avs" -- nobody avsl-prep -q --strict --split train --layout imagefolder --no-resize -o "$U/o.avs" "$U"
	nobody avsl-prep --split train --layout imagefolder --no-resize -o "$U/o.avs" "$U" 2>"$T/unr.err"
	check unreadable_class_skipped "grep -q 'train/b: Permission denied; class folder skipped' $T/unr.err && grep -q '1 images, 1 classes, 1 skipped' $T/unr.err && [ -s $U/o.avs ]"
fi

# ---- outputs: unwritable places, /dev/full, planted symlinks ----------------------------------------------------
bad embed_output_dir_missing 1 'nodir/e\.ave' "$O/nodir/e.ave" -- avsl-embed -q -m "$M" -o "$O/nodir/e.ave" "$S"
bad embed_output_is_directory 1 "$O: is a directory" - -- avsl-embed -q -m "$M" -o "$O" "$S"
bad embed_dev_full 1 '/dev/full: write failed' - -- avsl-embed -q -m "$M" -o /dev/full "$S"
bad embed_stdout_dev_full 1 'standard output: write failed' - -- bash -c "avsl-embed -q -m '$M' '$S' >/dev/full"
: >"$O/npyfile"
bad embed_npy_dir_is_file 1 'npyfile' "$O/e.ave" -- avsl-embed -q -m "$M" --npy "$O/npyfile" -o "$O/e.ave" "$S"
rm -f "$O/npyfile"
bad embed_corrupt_shard_with_npy 1 'half\.avs' "$O/e.ave" -- avsl-embed -q -m "$M" --npy "$O/npy" -o "$O/e.ave" "$B/half.avs"
check embed_corrupt_shard_no_npy_left "! ls $O/npy/* 2>/dev/null"
bad graph_dev_full 1 '/dev/full: write failed' - -- avsl-graph -q -o /dev/full "$T/test.ave"
bad graph_dense_dev_full 1 '/dev/full' "$O/g.avg" -- avsl-graph -q --dense /dev/full -o "$O/g.avg" "$T/test.ave"
bad eval_stdout_dev_full 1 'standard output: write failed' - -- bash -c "avsl-eval -q --emb '$T/test.ave' >/dev/full"
bad explain_stdout_dev_full 1 'standard output: write failed' - -- bash -c "avsl-explain -m '$M' --shard '$S' --pair 0 1 >/dev/full"
bad prep_list_dev_full 1 'standard output: write failed' - -- bash -c "avsl-prep --list '$S' >/dev/full"
bad prep_verify_dev_full 1 'standard output: write failed' - -- bash -c "avsl-prep --verify '$S' >/dev/full"
for t in prep train embed graph eval explain; do
	bad ${t}_help_dev_full 1 "avsl-$t: standard output: write failed" - -- bash -c "avsl-$t --help >/dev/full"
	bad ${t}_version_dev_full 1 "avsl-$t: standard output: write failed" - -- bash -c "avsl-$t --version >/dev/full"
done
# a symlink planted at the temporary name (the PID is the shell's: exec keeps it) is neither followed nor removed
echo precious >"$T/victim"
bash -c 'ln -s "$1" "$2.tmp.$$.0"; exec avsl-embed -q -m "$3" -o "$2" "$4"' _ "$T/victim" "$O/planted.ave" "$M" "$S"
check planted_symlink_not_followed "[ \"\$(cat $T/victim)\" = precious ] && [ -L $O/planted.ave.tmp.*.0 ] && cmp -s $O/planted.ave $T/test.ave"
rm -f "$O"/planted.ave*
bash -c 'ln -s "$1" "$2.tmp.$$.0"; exec avsl-prep -q --layout idx --split test --per-class 12 -o "$2" "$3"' _ "$T/victim" "$O/planted.avs" "$D"
check planted_symlink_prep "[ \"\$(cat $T/victim)\" = precious ] && avsl-prep --verify $O/planted.avs >/dev/null"
rm -f "$O"/planted.avs*

# ---- signals in the middle of a write: no temporary and no final file is left --------------------------------
# sig NAME SIGNAL WATCH OUTPUTS -- command...: start the command, wait until the temporary WATCH.tmp.* exists (the
# write is under way), send SIGNAL; the command must die of it and leave nothing matching the glob OUTPUTS.
sig() {
	local name=$1 s=$2 watch=$3 outs=$4
	shift 5
	rm -rf $outs
	# a background job of a script starts with SIGINT ignored, and the suite may run under nohup (SIGHUP ignored); an
	# ignored signal stays ignored across exec, as it should for the tools: reset the three signals tested here
	env --default-signal=INT,TERM,HUP "$@" 2>"$T/sig.err" &
	local pid=$! i=0
	while ! compgen -G "$watch.tmp.*" >/dev/null && [ $i -lt 2000 ] && kill -0 $pid 2>/dev/null; do
		sleep 0.005
		i=$((i + 1))
	done
	if ! compgen -G "$watch.tmp.*" >/dev/null; then
		wait $pid
		echo "FAIL $name: no temporary $watch.tmp.* seen while it ran (status $?)"
		return
	fi
	kill -s "$s" $pid
	{ wait $pid; } 2>/dev/null # no "Hangup" notice from the shell
	local st=$?
	if [ $st -le 128 ]; then
		echo "FAIL $name: exit status $st, expected death by SIG$s"
	elif compgen -G "$outs" >/dev/null; then
		echo "FAIL $name: left $(ls -d $outs | head -n 3 | tr '\n' ' ')"
	else
		echo "PASS $name"
	fi
}
avsl-embed -q -t 1 -m "$M" "$D/big.avs" -o "$T/big.ave"
for s in INT TERM HUP; do
	sig embed_npy_sig$s $s "$O/n$s/ids.npy" "$O/n$s/* $O/e$s.ave*" -- \
		avsl-embed -q -t 1 -m "$M" --npy "$O/n$s" -o "$O/e$s.ave" "$D/big.avs"
	# avsl-graph answers a query stream (-g, --tile 1) whose writer holds the pipe open one byte short of the
	# end: the graph is mid-write for as long as the test needs, whatever the machine's load (a whole-file run can
	# finish between the poll and the signal on a loaded machine, and then rightly keeps its complete output)
	rm -f "$T/q.fifo" && mkfifo "$T/q.fifo"
	{ head -c $(($(stat -c %s "$T/big.ave") - 1)) "$T/big.ave"; sleep 60; } >"$T/q.fifo" &
	writer=$!
	sig graph_sig$s $s "$O/g$s.avg" "$O/g$s.avg*" -- bash -c 'exec avsl-graph -q --threads 1 -m "$1" -k 50 \
		-g "$2" --tile 1 -o "$3" <"$4"' _ "$M" "$T/big.ave" "$O/g$s.avg" "$T/q.fifo"
	pkill -P $writer 2>/dev/null # the sleep (or a head still blocked on the pipe); the writer then ends
	{ wait $writer; } 2>/dev/null
done
sig prep_shards_sigINT INT "$O/p-train-00000.avs" "$O/p-*" -- \
	avsl-prep -q --layout idx --split both --shard-size 100 --threads 1 -o "$O/p" "$D"
sig prep_shards_sigTERM TERM "$O/p-train-00000.avs" "$O/p-*" -- \
	avsl-prep -q --layout idx --split both --shard-size 100 --threads 1 -o "$O/p" "$D"
# SIGPIPE: the reader of the stream goes away; the .npy files written beside the stream go with it
bash -c "avsl-embed -q -t 1 -m '$M' --npy '$O/pipe' '$D/big.avs' | head -c 1 >/dev/null; exit \${PIPESTATUS[0]}"
st=$?
check embed_sigpipe_no_npy "[ $st = 141 ] && ! ls $O/pipe/* 2>/dev/null"
