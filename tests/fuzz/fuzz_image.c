/* libFuzzer harness for the image decode path avsl-prep uses (libcommon/image.c: libjpeg(-turbo) for JPEGs when the
 * build has it, stb_image for PNG and the rest), then the PIL-style resize and crop-to-tensor that follow it. The
 * first input byte picks the channels asked for (0 keep, 1 gray, 3 RGB), the rest is the encoded file.
 * Build and run: `make fuzz` (tests/fuzz/README.md).
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz.h"
#include "image.h"

static volatile float sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	/* limits far below the defaults (image.h): a 100-byte RLE TGA may declare 36M pixels, which the default
	 * limits rightly allow and which takes the sanitized decoder tens of seconds; here the limit path is what
	 * matters, and each input must run in milliseconds */
	image_set_limits(1u << 22, 1u << 24);
	static const int want[3] = {0, 1, 3};
	image_u8 im;
	char why[200];
	if (image_decode(data + 1, size - 1, want[data[0] % 3], &im, why, sizeof why) != 0)
		return 0;
	/* what prep and the loader do next, on images small enough to keep the fuzzer fast */
	if ((uint64_t)im.h * im.w <= (1u << 20)) {
		image_u8 small;
		image_resize_shorter(&im, 7, &small);
		crop_box box = center_crop_box(small.h, small.w, small.h < 5 ? small.h : 5, small.w < 5 ? small.w : 5);
		const float mean[3] = {0.5f, 0.5f, 0.5f}, std[3] = {0.25f, 0.25f, 0.25f};
		float out[3 * 4 * 4]; /* (3, 4, 4) */
		image_to_tensor(&small, box, 4, 4, data[0] & 4, mean, std, 3, out);
		sink = out[0] + out[47] + small.px[(size_t)small.h * small.w * small.c - 1];
		image_free(&small);
	}
	sink = im.px[(size_t)im.h * im.w * im.c - 1];
	image_free(&im);
	return 0;
}
