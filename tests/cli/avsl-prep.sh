#!/usr/bin/env bash
# CLI golden tests for avsl-prep: every layout on small datasets generated here (tests/cli/mkimages.c), a corrupt
# file, a grayscale PNG, images smaller and larger than 256, list/verify goldens, a byte-exact golden shard,
# thread-count independence, and the error paths. AVSL_UPDATE_GOLDEN=1 rewrites the goldens (then review the diff).
. "$(dirname "$0")/lib.sh"

MK=$T/mkimages
# stb_image_write's JPEG bit packing shifts ints into the sign bit: that one UBSan check is off here, as for
# libcommon/image.c (Makefile)
if ! cc_test ${AVSL_SAN_FLAGS:+-fno-sanitize=shift-base} -O1 -I/usr/include/stb "$AVSL_ROOT/tests/cli/mkimages.c" \
	-o "$MK" -lm 2>"$T/cc.err"; then
	echo "FAIL build_mkimages: $(head -c 300 "$T/cc.err")"
	exit 1
fi
golden() { # NAME FILE: compare FILE with the committed golden NAME (or rewrite it)
	if [ -n "${AVSL_UPDATE_GOLDEN:-}" ]; then cp "$2" "$GOLDEN/$1"; fi
	check "golden_$1" cmp "$GOLDEN/$1" "$2"
}

# ---- ImageFolder: corrupt file, gray PNG, small and large images, a non-image file ----
IF=$T/if
mkdir -p "$IF/train/a_cat" "$IF/train/b_dog" "$IF/test/c_bird" "$IF/test/d_fish"
$MK img "$IF/train/a_cat/1.jpg" 40 50 3 1
$MK img "$IF/train/a_cat/2.jpg" 50 40 3 2
$MK img "$IF/train/a_cat/gray.png" 30 20 1 3
$MK img "$IF/train/b_dog/big.jpg" 300 260 3 4
$MK img "$IF/train/b_dog/x.bmp" 20 24 3 5
printf 'this is not a JPEG' >"$IF/train/b_dog/broken.jpg"
echo notes >"$IF/train/b_dog/notes.txt"
$MK img "$IF/test/c_bird/1.png" 16 16 3 6
$MK img "$IF/test/d_fish/1.png" 17 33 3 7
head -c 2000 "$IF/train/b_dog/big.jpg" >"$IF/test/d_fish/truncated.jpg"

expect if_train 0 empty 'broken.jpg: .*skipped' -- avsl-prep -q --threads 2 -o "$T/if-train.avs" --split train "$IF"
check if_train_no_temporaries "! ls '$T'/*.tmp.* 2>/dev/null"
avsl-prep --list "$T/if-train.avs" >"$T/if-list.txt" 2>"$T/err"
golden prep-list-imagefolder.txt "$T/if-list.txt"
expect if_verify 0 - '' -- avsl-prep --verify "$T/if-train.avs"
check if_verify_says_ok "grep -q 'if-train.avs: OK, 5 records, 1 shard, 2 classes' '$T/out'"
expect if_summary 0 empty 'if-train-1.avs: 5 images, 2 classes, 1 skipped, [0-9]+ bytes in, [0-9]+ bytes out \(1 shard\), [0-9.]+ images/s' \
	-- avsl-prep --threads 1 -o "$T/if-train-1.avs" --split train "$IF"
check if_threads_1_vs_2_identical cmp "$T/if-train.avs" "$T/if-train-1.avs"
expect if_strict 1 empty 'broken.jpg: .*--strict' -- avsl-prep -q --strict -o "$T/strict.avs" --split train "$IF"
check if_strict_leaves_nothing "test ! -e '$T/strict.avs' && ! ls '$T'/strict.avs.tmp.* 2>/dev/null"

# multi-shard output: prefix, per-split manifests, shards of 2 records; threads do not change a byte
mkdir -p "$T/p1" "$T/p2"
expect if_prefix 0 empty 'broken.jpg' -- avsl-prep -q --threads 2 --shard-size 2 --layout imagefolder -o "$T/p2/if" "$IF"
avsl-prep -q --threads 1 --shard-size 2 -o "$T/p1/if" "$IF" 2>/dev/null
check if_prefix_warns_truncated "grep -q 'truncated.jpg: .*skipped' '$T/err'"
check if_prefix_files "test -f '$T/p2/if-train.avsm' && test -f '$T/p2/if-train-00002.avs' && test ! -e '$T/p2/if-train-00003.avs' && test -f '$T/p2/if-test-00000.avs'"
check if_prefix_manifest "printf 'AVSM 1.0\n2 if-train-00000.avs\n2 if-train-00001.avs\n1 if-train-00002.avs\n' | cmp - '$T/p2/if-train.avsm'"
check if_prefix_threads_identical "diff -r '$T/p1' '$T/p2'"
check if_prefix_byte_budget "avsl-prep -q --shard-size 1M -o '$T/p2/bb' --split train '$IF' 2>/dev/null && grep -c avs '$T/p2/bb-train.avsm' | grep -qx 1"
expect if_manifest_list 0 - '' -- avsl-prep --list "$T/p2/if-train.avsm"
check if_manifest_list_same_records "cut -f2- '$T/out' | cmp - <(cut -f2- '$T/if-list.txt')"

# ---- byte-exact golden shard for a fixed tiny input ----
TI=$T/tiny
mkdir -p "$TI/train/x" "$TI/train/y"
$MK img "$TI/train/x/a.png" 8 6 3 11
$MK img "$TI/train/x/b.png" 5 9 1 12
$MK img "$TI/train/y/c.png" 7 7 3 13
avsl-prep -q --resize 4 --level 3 -o "$T/tiny.avs" --split train "$TI" 2>"$T/err"
# zstd 1.x frames are stable for a given level across releases we know of; if a new libzstd changes them,
# regenerate with AVSL_UPDATE_GOLDEN=1 after checking --list output is unchanged
golden prep-tiny.avs "$T/tiny.avs"

# ---- raw CUB-200-2011 ----
CUB=$T/cub
mkdir -p "$CUB/images/001.Alpha" "$CUB/images/002.Beta" "$CUB/images/101.Gamma"
$MK img "$CUB/images/001.Alpha/a2.jpg" 30 40 3 21
$MK img "$CUB/images/001.Alpha/a1.jpg" 30 40 3 22
$MK img "$CUB/images/002.Beta/b1.png" 20 30 1 23
$MK img "$CUB/images/101.Gamma/g1.jpg" 25 25 3 24
printf 'GIF89a, or so it claims' >"$CUB/images/002.Beta/bad.gif"
printf '1 001.Alpha/a2.jpg\n2 001.Alpha/a1.jpg\n3 002.Beta/b1.png\n4 101.Gamma/g1.jpg\n5 002.Beta/bad.gif\n' >"$CUB/images.txt"
printf '1 1\n2 1\n3 2\n4 101\n5 2\n' >"$CUB/image_class_labels.txt"
expect cub_train 0 empty 'bad.gif: .*skipped' -- avsl-prep -q --resize 16 -o "$T/cub-train.avs" --split train "$CUB"
printf '0\t0\t001.Alpha\timages/001.Alpha/a1.jpg\t16x21x3\n1\t0\t001.Alpha\timages/001.Alpha/a2.jpg\t16x21x3\n2\t1\t002.Beta\timages/002.Beta/b1.png\t16x24x1\n' >"$T/cub-want.txt"
expect cub_train_list 0 "$T/cub-want.txt" empty -- avsl-prep --list "$T/cub-train.avs"
expect cub_test 0 empty empty -- avsl-prep -q --layout cub --resize 16 -o "$T/cub-test.avs" --split test "$CUB"
printf '0\t0\t101.Gamma\timages/101.Gamma/g1.jpg\t16x16x3\n' >"$T/cub-want.txt"
expect cub_test_list 0 "$T/cub-want.txt" empty -- avsl-prep --list "$T/cub-test.avs"
printf '1 1\n2 x1\n' >"$CUB/image_class_labels.txt"
expect cub_malformed_line 1 empty 'image_class_labels.txt:2: .*expected' -- avsl-prep -q -o "$T/cub.avs" --split train "$CUB"

# ---- Stanford Online Products ----
SOP=$T/sop
mkdir -p "$SOP/Info_Files" "$SOP/images/bicycle_final" "$SOP/images/chair_final"
$MK img "$SOP/images/bicycle_final/1_0.JPG.jpg" 20 30 3 31
$MK img "$SOP/images/bicycle_final/1_1.jpg" 20 30 3 32
$MK img "$SOP/images/chair_final/2_0.jpg" 30 20 3 33
$MK img "$SOP/images/chair_final/3_0.jpg" 30 20 3 34
$MK img "$SOP/images/chair_final/2_1.png" 30 20 1 35
printf '\x89PNG\r\n\x1a\n broken' >"$SOP/images/chair_final/2_2.png"
printf 'image_id class_id super_class_id path\n1 1 1 bicycle_final/1_0.JPG.jpg\n2 1 1 bicycle_final/1_1.jpg\n3 2 2 chair_final/2_0.jpg\n5 2 2 chair_final/2_1.png\n6 2 2 chair_final/2_2.png\n' >"$SOP/Info_Files/Ebay_train.txt"
printf 'image_id class_id super_class_id path\n4 3 2 chair_final/3_0.jpg\n' >"$SOP/Info_Files/Ebay_test.txt"
expect sop_both 0 empty '2_2.png: .*skipped' -- avsl-prep -q --resize 10 -o "$T/sop" "$SOP"
printf '0\t0\t1\timages/bicycle_final/1_0.JPG.jpg\t10x15x3\n1\t0\t1\timages/bicycle_final/1_1.jpg\t10x15x3\n2\t1\t2\timages/chair_final/2_0.jpg\t15x10x3\n3\t1\t2\timages/chair_final/2_1.png\t15x10x1\n' >"$T/sop-want.txt"
expect sop_train_list 0 "$T/sop-want.txt" empty -- avsl-prep --list "$T/sop-train.avsm"
printf '0\t2\t3\timages/chair_final/3_0.jpg\t15x10x3\n' >"$T/sop-want.txt"
expect sop_test_keeps_global_labels 0 "$T/sop-want.txt" empty -- avsl-prep --list "$T/sop-test.avsm"
printf 'image_id class_id path\n' >"$SOP/Info_Files/Ebay_test.txt"
printf 'id class super path\n' >"$SOP/Info_Files/Ebay_train.txt"
expect sop_bad_header 1 empty 'Ebay_train.txt:1: expected the header' -- avsl-prep -q -o "$T/sopx" "$SOP"
printf 'image_id class_id super_class_id path\n1 1 bicycle_final/1_0.JPG.jpg\n' >"$SOP/Info_Files/Ebay_train.txt"
expect sop_bad_line 1 empty 'Ebay_train.txt:2: ' -- avsl-prep -q -o "$T/sopx" --split train "$SOP"

# ---- IDX (gzip'd test split), class filter, gray, no resize by default ----
IDX=$T/idx
mkdir -p "$IDX"
$MK idx "$IDX" train 30 8 8
$MK idx "$IDX" t10k 20 8 8
gzip "$IDX"/t10k-*
expect idx_classes 0 empty empty -- avsl-prep -q --classes 0-4 -o "$T/idx" "$IDX"
expect idx_verify 0 - empty -- avsl-prep --verify "$T/idx-train.avsm"
check idx_train_count "grep -q 'OK, 15 records, 1 shard, 5 classes' '$T/out'"
expect idx_list 0 - empty -- avsl-prep --list "$T/idx-test.avsm"
check idx_test_list "head -n 2 '$T/out' | cmp - <(printf '0\t0\t0\tt10k-images-idx3-ubyte.gz#0\t8x8x1\n1\t1\t1\tt10k-images-idx3-ubyte.gz#1\t8x8x1\n') && test \$(wc -l <'$T/out') = 10"
expect idx_class_list 0 empty empty -- avsl-prep -q --classes 1,3,7-8 --split train -o "$T/idx2.avs" "$IDX"
expect idx_class_list_labels 0 - empty -- avsl-prep --list "$T/idx2.avs"
check idx_class_list_kept "cut -f2 '$T/out' | sort -u | tr '\n' ' ' | grep -qx '1 3 7 8 '"
expect idx_bad_classes 2 empty 'classes: .*5-2' -- avsl-prep -o "$T/x" --classes 5-2 "$IDX"

# ---- a malformed Cars196 .mat: one line naming the file (tests/cli/cars196.sh reads real ones) ----
mkdir -p "$T/cars"
printf 'MATLAB 5.0 MAT-file' >"$T/cars/cars_annos.mat"
expect cars_malformed_mat 1 empty 'cars_annos.mat: not a MAT-file' -- avsl-prep -o "$T/cars" "$T/cars"

# ---- corrupted and truncated shards ----
cp "$T/if-train.avs" "$T/bad.avs"
printf '\xff\xff\xff\xff' | dd of="$T/bad.avs" bs=1 seek=40 conv=notrunc 2>/dev/null
expect verify_corrupt_record 1 empty 'bad.avs: record 0: checksum: found [0-9a-f]+, index says' -- avsl-prep --verify "$T/bad.avs"
check verify_corrupt_count "grep -q 'bad.avs: 1 of 5 records failed verification' '$T/err'"
head -c 1000 "$T/if-train.avs" >"$T/short.avs"
expect verify_truncated 1 empty 'short.avs: footer: .*truncated' -- avsl-prep --verify "$T/short.avs"
expect list_not_a_shard 1 empty 'images.txt: header: magic' -- avsl-prep --list "$CUB/images.txt"

# ---- usage ----
expect usage_no_args 2 empty 'missing the dataset ROOT' -- avsl-prep
expect usage_no_output 2 empty 'missing -o' -- avsl-prep "$IF"
expect usage_single_needs_split 2 empty 'choose --split' -- avsl-prep -o "$T/x.avs" "$IF"
expect usage_level 2 empty 'level: .*out of range' -- avsl-prep --level 0 -o "$T/x" "$IF"
expect usage_layout 2 empty 'layout' -- avsl-prep --layout coco -o "$T/x" "$IF"
expect usage_unknown_option 2 empty '' -- avsl-prep --frobnicate
expect usage_no_layout 1 empty 'cannot tell the layout' -- avsl-prep -o "$T/x" "$T/p1"
expect help 0 - empty -- avsl-prep --help
check help_mentions_options "grep -q -- '--shard-size' '$T/out' && grep -q -- '--verify' '$T/out'"
expect version 0 - empty -- avsl-prep -V
check version_line "grep -Eq '^avsl-prep [0-9]+\.[0-9]+\.[0-9]+$' '$T/out'"

# --per-class keeps the first N images of every class, in dataset order.
expect per_class_subset 0 empty '' -- avsl-prep -q --layout idx --split train --classes 0-4 --per-class 3 -o "$T/pc.avs" "$IDX"
check per_class_counts "[ \$(avsl-prep --list $T/pc.avs | wc -l) -eq \$(avsl-prep --list $T/pc.avs | awk '{print \$2}' | sort | uniq -c | awk '{s+=\$1; if (\$1 > 3) bad=1} END{print (bad ? -1 : s)}') ]"
expect per_class_bad 2 empty 'per-class' -- avsl-prep --per-class 0 -o "$T/x.avs" "$IDX"
