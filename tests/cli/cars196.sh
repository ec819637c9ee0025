#!/usr/bin/env bash
# avsl-prep reads Cars196 as distributed: cars_annos.mat (a MATLAB 5 struct array; tests/cli/mkmat.py writes it byte by
# byte, no scipy) in the four forms a MAT-file can take (plain miMATRIX or miCOMPRESSED elements, little- or
# big-endian), the devkit release, and malformed files (one line naming the file, exit 1). The split is by class
# (avsl-method.md §6): classes 1-98 train, 99-196 test, label = class - 1, in the .mat's order; the test flag is
# ignored.
. "$(dirname "$0")/lib.sh"
MK=$T/mkimages
if ! cc_test ${AVSL_SAN_FLAGS:+-fno-sanitize=shift-base} -O1 -I/usr/include/stb "$AVSL_ROOT/tests/cli/mkimages.c" -o "$MK" -lm 2>"$T/cc.err"; then
	echo "FAIL build_mkimages: $(head -c 300 "$T/cc.err")"
	exit 1
fi
MKMAT="/usr/bin/python3 $AVSL_ROOT/tests/cli/mkmat.py"
C=$T/cars
mkdir -p "$C/car_ims"
for i in 1 2 3 4 5 6; do $MK img "$C/car_ims/00000$i.jpg" 30 40 3 "$i"; done
# image, class, original test flag
cat >"$T/annos" <<'EOF'
car_ims/000001.jpg 1 0
car_ims/000002.jpg 99 1
car_ims/000003.jpg 98 0
car_ims/000004.jpg 196 0
car_ims/000005.jpg 1 1
car_ims/000006.jpg 150 1
EOF
# avsl-prep --list: record, label, class name, source path, decoded size (Resize 256 of a 30x40 image)
cat >"$T/want-train" <<'EOF'
0	0	Make Model 1	car_ims/000001.jpg	256x341x3
1	97	Make Model 98	car_ims/000003.jpg	256x341x3
2	0	Make Model 1	car_ims/000005.jpg	256x341x3
EOF
cat >"$T/want-test" <<'EOF'
0	98	Make Model 99	car_ims/000002.jpg	256x341x3
1	195	Make Model 196	car_ims/000004.jpg	256x341x3
2	149	Make Model 150	car_ims/000006.jpg	256x341x3
EOF
for form in plain compressed big-endian big-endian-compressed; do
	flags=
	case $form in
	compressed) flags=--compressed ;;
	big-endian) flags=--big-endian ;;
	big-endian-compressed) flags="--big-endian --compressed" ;;
	esac
	$MKMAT "$C/cars_annos.mat" --names 196 $flags <"$T/annos"
	expect "cars_${form}_pack" 0 empty '' -- avsl-prep -q --threads 1 --split both -o "$T/$form" "$C"
	expect "cars_${form}_train" 0 "$T/want-train" '' -- avsl-prep --list "$T/$form-train.avsm"
	expect "cars_${form}_test" 0 "$T/want-test" '' -- avsl-prep --list "$T/$form-test.avsm"
done
check cars_forms_identical "cmp $T/plain-train-00000.avs $T/big-endian-compressed-train-00000.avs && cmp $T/plain-test-00000.avs $T/compressed-test-00000.avs"
# without class_names the class number names the class
$MKMAT "$C/cars_annos.mat" <"$T/annos"
avsl-prep -q --split test -o "$T/nonames.avs" "$C" 2>"$T/err"
check cars_no_class_names "avsl-prep --list $T/nonames.avs | cut -f3 | tr '\n' ' ' | grep -qx '99 196 150 '"

# ---- malformed files: one line naming the file, exit 1 ----
M=$T/bad
mkdir -p "$M"
$MKMAT "$T/good.mat" --names 196 --compressed <"$T/annos"
bad() { # NAME STDERR_REGEX: cars_annos.mat is $T/x.mat
	cp "$T/x.mat" "$M/cars_annos.mat"
	expect "$1" 1 empty "^avsl-prep: $M/cars_annos.mat: $2" -- avsl-prep -q -o "$T/bad" --split train "$M"
	check "$1_one_line" "test \$(wc -l < $T/err) -eq 1"
}
head -c 100 "$T/good.mat" >"$T/x.mat"
bad mat_short_header 'not a MAT-file'
$MKMAT "$T/x.mat" --names 196 --compressed --truncate-zlib 40 <"$T/annos"
bad mat_truncated_zlib 'compressed element: truncated zlib stream'
{ head -c 136 "$T/good.mat"; head -c 64 /dev/zero; tail -c +201 "$T/good.mat"; } >"$T/x.mat"
bad mat_corrupt_zlib 'compressed element: corrupt zlib stream'
$MKMAT "$T/plain.mat" --names 196 <"$T/annos"
head -c 700 "$T/plain.mat" >"$T/x.mat"
bad mat_truncated_plain 'data element of type 14 and [0-9]+ bytes runs past its end'
{ head -c 126 "$T/plain.mat"; printf 'XX'; tail -c +129 "$T/plain.mat"; } >"$T/x.mat"
bad mat_endian 'endian indicator'
printf 'MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: x HDF5 schema 1.00 .' >"$T/x.mat"
bad mat_hdf5 'a MATLAB 7.3 \(HDF5\) MAT-file'
$MKMAT "$T/x.mat" --names 196 --names-only
bad mat_no_annotations "no variable 'annotations'"
sed 's/ 196 0$/ 197 0/' "$T/annos" | $MKMAT "$T/x.mat"
bad mat_class_range 'annotations\(4\)\.class: not an integer in 1\.\.196'
$MKMAT "$T/x.mat" --path-field fname <"$T/annos"
bad mat_no_path_field "annotations\\(1\\): no field 'relative_im_path'"

# ---- the devkit release: cars_train/ + cars_test/, devkit/cars_{train_annos,meta}.mat, test labels separately ----
K=$T/devkit
mkdir -p "$K/cars_train" "$K/cars_test" "$K/devkit"
for i in 1 2 3; do $MK img "$K/cars_train/0000$i.jpg" 20 20 3 "$i"; $MK img "$K/cars_test/0000$i.jpg" 20 20 3 "$((i + 3))"; done
printf '00001.jpg 2 0\n00002.jpg 120 0\n00003.jpg 98 0\n' | $MKMAT "$K/devkit/cars_train_annos.mat" --path-field fname
printf '00001.jpg 99 1\n00002.jpg 2 1\n00003.jpg 196 1\n' | $MKMAT "$K/cars_test_annos_withlabels.mat" --path-field fname \
	--compressed
$MKMAT "$K/devkit/cars_meta.mat" --names 196 --names-only
cat >"$T/want-kit" <<'EOF'
0	1	Make Model 2	cars_train/00001.jpg	256x256x3
1	97	Make Model 98	cars_train/00003.jpg	256x256x3
2	1	Make Model 2	cars_test/00002.jpg	256x256x3
EOF
expect devkit_pack 0 empty '' -- avsl-prep -q --split both -o "$T/kit" "$K"
expect devkit_train 0 "$T/want-kit" '' -- avsl-prep --list "$T/kit-train.avsm"
check devkit_test "avsl-prep --list $T/kit-test.avsm | cut -f2,4 | tr '\t\n' ' ;' | grep -qx '119 cars_train/00002.jpg;98 cars_test/00001.jpg;195 cars_test/00003.jpg;'"
rm "$K/cars_test_annos_withlabels.mat"
expect devkit_no_test_labels 1 empty 'cars_test_annos_withlabels.mat' -- avsl-prep -q -o "$T/kit2" "$K"
