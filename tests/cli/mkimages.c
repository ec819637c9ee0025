/* mkimages: writes the synthetic images and IDX files the avsl-prep CLI tests need. Compiled by
 * tests/cli/avsl-prep.sh itself (stb_image_write is a header library; this helper is not part of libavsl).
 *
 *   mkimages img OUT.png|OUT.jpg|OUT.bmp H W C SEED   one image of deterministic pixels
 *   mkimages idx DIR PREFIX N H W                      DIR/PREFIX-images-idx3-ubyte, -labels-idx1-ubyte (labels i%10)
 */
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include "stb_image_write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char px(int y, int x, int c, int seed)
{
	unsigned v = (unsigned)(y * 7 + x * 3 + c * 50 + seed * 29) ^ (unsigned)((x * y + seed) % 31);
	return (unsigned char)v;
}

static void be32(FILE *f, unsigned v)
{
	unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
			      (unsigned char)v};
	fwrite(b, 1, 4, f);
}

int main(int argc, char **argv)
{
	if (argc == 7 && strcmp(argv[1], "img") == 0) {
		int h = atoi(argv[3]), w = atoi(argv[4]), c = atoi(argv[5]), seed = atoi(argv[6]);
		unsigned char *p = malloc((size_t)h * w * c);
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++)
				for (int k = 0; k < c; k++)
					p[((size_t)y * w + x) * c + k] = px(y, x, k, seed);
		const char *ext = strrchr(argv[2], '.');
		int ok = 0;
		stbi_write_force_png_filter = 0; /* fixed filter: the same bytes whatever the heuristic */
		if (ext && !strcmp(ext, ".png"))
			ok = stbi_write_png(argv[2], w, h, c, p, w * c);
		else if (ext && !strcmp(ext, ".jpg"))
			ok = stbi_write_jpg(argv[2], w, h, c, p, 90);
		else if (ext && !strcmp(ext, ".bmp"))
			ok = stbi_write_bmp(argv[2], w, h, c, p);
		free(p);
		return ok ? 0 : 1;
	}
	if (argc == 7 && strcmp(argv[1], "idx") == 0) {
		int n = atoi(argv[4]), h = atoi(argv[5]), w = atoi(argv[6]);
		char path[512];
		snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", argv[2], argv[3]);
		FILE *f = fopen(path, "wb");
		if (!f)
			return 1;
		be32(f, 0x803), be32(f, (unsigned)n), be32(f, (unsigned)h), be32(f, (unsigned)w);
		for (int i = 0; i < n; i++)
			for (int y = 0; y < h; y++)
				for (int x = 0; x < w; x++)
					fputc(px(y, x, 0, i), f);
		fclose(f);
		snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", argv[2], argv[3]);
		f = fopen(path, "wb");
		if (!f)
			return 1;
		be32(f, 0x801), be32(f, (unsigned)n);
		for (int i = 0; i < n; i++)
			fputc(i % 10, f);
		fclose(f);
		return 0;
	}
	fprintf(stderr, "usage: mkimages img OUT H W C SEED | mkimages idx DIR PREFIX N H W\n");
	return 2;
}
