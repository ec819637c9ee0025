/* libFuzzer harness for the IDX reader (MNIST / Fashion-MNIST, libcommon/datasets.c ds_idx_check, the check that
 * load_idx applies to the two files once read). Input: a 2-byte little-endian length L, then the images file, then
 * the last L bytes (clamped) are the labels file. An accepted pair is walked as load_idx walks it: every label
 * (a class name per distinct label) and the last pixel of every image. Build and run: `make fuzz`.
 */
#include <stdint.h>
#include <stdio.h>

#include "fuzz.h"
#include "datasets.h"

static volatile size_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t ll = (size_t)data[0] | (size_t)data[1] << 8, rest = size - 2;
	if (ll > rest)
		ll = rest;
	const unsigned char *img = data + 2, *lab = data + 2 + (rest - ll);
	size_t il = rest - ll;
	uint32_t n, h, w;
	char why[512];
	if (ds_idx_check(img, il, "train-images-idx3-ubyte", lab, ll, "train-labels-idx1-ubyte", &n, &h, &w, why,
			 sizeof why) != 0) {
		sink = why[0];
		return 0;
	}
	size_t acc = 0;
	char seen[256] = {0};
	for (uint32_t i = 0; i < n; i++) {
		uint8_t label = lab[8 + i];
		seen[label] = 1;
		acc += img[16 + (size_t)i * h * w + (size_t)h * w - 1];
	}
	for (int l = 0; l < 256; l++)
		acc += (size_t)seen[l];
	sink = acc;
	return 0;
}
