#!/usr/bin/env bash
# `make install` into a temporary DESTDIR, then use what it installed as a user would: every tool runs, `man -M`
# finds every page, every public header compiles on its own, and a small program builds against the installed
# headers and library (flags from the installed avsl.pc) and computes a convolution equal to the naive reference.
. "$(dirname "$0")/lib.sh"
BUILD_DIR=$(dirname "$AVSL_BIN")
# Install from the build the other tests use, with the CUDA setting it was built with (a different setting would
# rebuild it: objects depend on their flags).
cuda=0
grep -q -- -DAVSL_HAVE_CUDA "$BUILD_DIR/flags.stamp" 2>/dev/null && cuda=auto
D=$T/root P=/opt/avsl
if make -s -C "$AVSL_ROOT" install BUILD="$BUILD_DIR" CUDA=$cuda PREFIX=$P DESTDIR="$D" >"$T/install.log" 2>&1; then
	echo "PASS install_exit_status"
else
	echo "FAIL install_exit_status: $(tail -c 400 "$T/install.log")"
	exit 1
fi

for t in "$AVSL_ROOT"/tools/avsl-*.c; do
	tool=$(basename "$t" .c)
	expect "installed_${tool}_runs" 0 - "" -- "$D$P/bin/$tool" --help
done

for m in "$AVSL_ROOT"/man/*.[1-9]; do
	page=$(basename "$m") sec=${m##*.}
	check "man_finds_$page" "man -M '$D$P/share/man' -w $sec '${page%.*}' | grep -q '$D$P/share/man/man$sec/$page'"
done

# Only the public headers are installed, and each is self-contained.
check installed_headers_are_the_public_list \
	"diff <(ls '$D$P/include/avsl') <(make -s -C '$AVSL_ROOT' print-public-headers | tr ' ' '\n' | xargs -n1 basename | sort)"
for h in "$D$P"/include/avsl/*.h; do
	check "header_self_contained_$(basename "$h")" \
		"printf '#include <avsl/%s>\n' $(basename "$h") | ${CC:-cc} -std=gnu11 -Wall -Werror -I'$D$P/include' -x c -c - -o /dev/null"
done

cat >"$T/user.c" <<'EOF'
/* A user of libavsl: one convolution through the op contract, checked against the naive reference. */
#include <avsl/ops.h>
#include <math.h>
#include <stdio.h>

int main(void)
{
	op_ctx ctx;
	if (op_ctx_init(&ctx, OP_DEVICE_CPU, 1)) {
		fprintf(stderr, "%s\n", ctx.err);
		return 1;
	}
	conv_shape s = conv_shape_make(2, 3, 5, 5, 4, 3, 3, 1, 1);
	float x[2 * 3 * 5 * 5], w[4 * 3 * 3 * 3], y[2 * 4 * 5 * 5], r[2 * 4 * 5 * 5];
	for (int i = 0; i < 150; i++)
		x[i] = (float)((i * 37) % 11) - 5.0f;
	for (int i = 0; i < 108; i++)
		w[i] = (float)((i * 13) % 7) * 0.25f - 0.75f;
	if (op_conv2d_fwd(&ctx, &s, x, w, NULL, y, 0)) {
		fprintf(stderr, "%s\n", ctx.err);
		return 1;
	}
	conv2d_fwd_naive(&s, x, w, NULL, r, 0);
	for (int i = 0; i < 200; i++)
		if (fabsf(y[i] - r[i]) > 1e-4f) {
			fprintf(stderr, "y[%d] = %g, naive %g\n", i, y[i], r[i]);
			return 1;
		}
	op_ctx_free(&ctx);
	puts("ok");
	return 0;
}
EOF
# The installed avsl.pc, with its prefix moved under DESTDIR (a sysroot would move the CUDA library path too).
pc="PKG_CONFIG_PATH='$D$P/lib/pkgconfig' pkg-config --define-variable=prefix='$D$P'"
check user_program_builds_against_installed_library \
	"${CC:-cc} $AVSL_SAN_FLAGS -std=gnu11 \$($pc --cflags avsl) '$T/user.c' -o '$T/user' \$($pc --libs --static avsl)"
expect user_program_runs 0 - "" -- "$T/user"
