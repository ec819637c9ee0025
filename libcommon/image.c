/* image.c: see image.h. Decoding is stb_image; resizing reproduces PIL 9.4's ImagingResample for 8-bit images
 * (Resample.c): a separable triangle filter whose support grows with the reduction factor, coefficients normalised
 * in double and then rounded to 22-bit fixed point, the horizontal pass first into an 8-bit intermediate image
 * (rounded and clipped, as PIL does), then the vertical pass. Matching those roundings is what makes the result
 * equal to PIL's, not merely close.
 */
#include "image.h"
#include "util.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#if defined(__SSE4_1__) || defined(__AVX2__)
#include <immintrin.h>
#endif

/* stb is a library here: its own warnings are not ours to fix */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wshadow"
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_FAILURE_USERMSG
#include "stb_image.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include "stb_image_write.h"
#pragma GCC diagnostic pop

/* A decompression bomb is refused before it is decoded, not allowed to exhaust memory: at most image_max_pixels
 * pixels (PIL's MAX_IMAGE_PIXELS, the size where it starts to warn) and image_max_bytes decoded bytes (samples
 * times bytes per sample: a 16-bit RGBA PNG counts 8 bytes a pixel). Set once by the tool (avsl-prep --max-pixels,
 * --max-image-bytes) before any thread decodes. */
static uint64_t image_max_pixels = IMAGE_DEFAULT_MAX_PIXELS;
static uint64_t image_max_bytes = IMAGE_DEFAULT_MAX_BYTES;
#define IMAGE_MAX_PIXELS image_max_pixels

void image_set_limits(uint64_t max_pixels, uint64_t max_bytes)
{
	image_max_pixels = max_pixels;
	image_max_bytes = max_bytes;
}

static int over_limits(uint64_t w, uint64_t h, uint64_t bytes_per_pixel, char *why, size_t why_len)
{
	if (w * h > image_max_pixels) {
		snprintf(why, why_len, "%llux%llu pixels, more than the %llu allowed (--max-pixels)", (unsigned long long)w,
			 (unsigned long long)h, (unsigned long long)image_max_pixels);
		return 1;
	}
	if (w * h * bytes_per_pixel > image_max_bytes) {
		snprintf(why, why_len, "%llux%llu pixels decode to %llu bytes, more than the %llu allowed (--max-image-bytes)",
			 (unsigned long long)w, (unsigned long long)h, (unsigned long long)(w * h * bytes_per_pixel),
			 (unsigned long long)image_max_bytes);
		return 1;
	}
	return 0;
}

static uint32_t be32(const unsigned char *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* A PNG's chunk structure, checked as PIL (libpng) checks it before stb_image (which ignores CRCs) decodes it:
 * every chunk whole and its CRC right, up to IEND. A file that ends inside a chunk or before IEND is reported as
 * truncated (not as whatever a decoder makes of the missing bytes). Also applies the limits to IHDR's size. */
static int png_check(const unsigned char *b, size_t len, char *why, size_t why_len)
{
	size_t pos = 8;
	int seen_ihdr = 0;
	for (;;) {
		if (len - pos < 12) {
			snprintf(why, why_len, "truncated PNG: the file ends at byte %zu, %s", len,
				 seen_ihdr ? "before the IEND chunk" : "inside the header");
			return -1;
		}
		uint32_t n = be32(b + pos);
		char type[5] = {0};
		memcpy(type, b + pos + 4, 4);
		if (n > 0x7fffffffu || n > len - pos - 12) {
			snprintf(why, why_len, "truncated PNG: chunk '%.4s' at byte %zu needs %u bytes, the file ends at byte %zu",
				 isprint((unsigned char)type[0]) ? type : "????", pos, n + 12, len);
			return -1;
		}
		uint32_t crc = (uint32_t)crc32(0L, b + pos + 4, n + 4);
		if (crc != be32(b + pos + 8 + n)) {
			snprintf(why, why_len, "PNG chunk '%.4s' at byte %zu: CRC mismatch (corrupt file)", type, pos);
			return -1;
		}
		if (!seen_ihdr) {
			if (memcmp(type, "IHDR", 4) || n != 13) {
				snprintf(why, why_len, "PNG: the first chunk is '%.4s', expected IHDR", type);
				return -1;
			}
			seen_ihdr = 1;
			const unsigned char *h = b + pos + 8;
			static const int samples[7] = {1, 0, 3, 1, 2, 0, 4}; /* by colour type: gray, -, RGB, palette, GA, -, RGBA */
			int depth = h[8], ct = h[9];
			uint64_t bpp = (ct < 7 && samples[ct] ? (uint64_t)samples[ct] : 4) * (depth > 8 ? 2 : 1);
			if (ct == 3)
				bpp = 3; /* a palette image decodes to RGB */
			if (over_limits(be32(h), be32(h + 4), bpp, why, why_len))
				return -1;
		}
		pos += 12 + (size_t)n;
		if (!memcmp(type, "IEND", 4))
			return 0;
	}
}

#ifdef AVSL_HAVE_JPEG
#include <jpeglib.h>
#include <jerror.h>
#include <setjmp.h>

struct jerr {
	struct jpeg_error_mgr pub;
	jmp_buf jb;
	int truncated;
	char msg[JMSG_LENGTH_MAX];
};

static void jerr_exit(j_common_ptr cinfo)
{
	struct jerr *e = (struct jerr *)cinfo->err;
	(*cinfo->err->format_message)(cinfo, e->msg);
	longjmp(e->jb, 1);
}

/* Warnings (extraneous bytes, ...) are ignored, as PIL ignores them, except a premature end of data: PIL refuses
 * a truncated file ("image file is truncated") and so do we, rather than keep an image half grey. */
static void jerr_message(j_common_ptr cinfo, int level)
{
	struct jerr *e = (struct jerr *)cinfo->err;
	if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF)
		e->truncated = 1;
}

/* libjpeg(-turbo) with PIL's settings (ISLOW DCT, fancy upsampling: the library defaults), so the pixels are the
 * ones PIL's Image.open().convert("RGB") gives on a system whose PIL uses the same libjpeg. Returns 1 when the
 * JPEG is of a kind left to stb_image (CMYK/YCCK). */
static int decode_jpeg(const void *buf, size_t len, image_u8 *out, char *why, size_t why_len)
{
	struct jpeg_decompress_struct ci;
	struct jerr je;
	uint8_t *volatile px = NULL;
	ci.err = jpeg_std_error(&je.pub);
	je.pub.error_exit = jerr_exit;
	je.pub.emit_message = jerr_message;
	je.truncated = 0;
	if (setjmp(je.jb)) {
		snprintf(why, why_len, "%s", je.msg);
		jpeg_destroy_decompress(&ci);
		free(px);
		return -1;
	}
	jpeg_create_decompress(&ci);
	jpeg_mem_src(&ci, (const unsigned char *)buf, (unsigned long)len);
	jpeg_read_header(&ci, TRUE);
	if (ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK) {
		jpeg_destroy_decompress(&ci);
		return 1;
	}
	if (over_limits(ci.image_width, ci.image_height, (uint64_t)ci.num_components, why, why_len)) {
		jpeg_destroy_decompress(&ci);
		return -1;
	}
	int c = ci.num_components == 1 ? 1 : 3;
	ci.out_color_space = c == 1 ? JCS_GRAYSCALE : JCS_RGB;
	jpeg_start_decompress(&ci);
	size_t stride = (size_t)ci.output_width * c;
	px = xmalloc_array((size_t)ci.output_height, stride);
	while (ci.output_scanline < ci.output_height) {
		JSAMPROW row = px + (size_t)ci.output_scanline * stride;
		jpeg_read_scanlines(&ci, &row, 1);
	}
	if (je.truncated) {
		snprintf(why, why_len, "premature end of JPEG data (truncated file)");
		jpeg_destroy_decompress(&ci);
		free(px);
		return -1;
	}
	jpeg_finish_decompress(&ci);
	out->h = (int)ci.output_height;
	out->w = (int)ci.output_width;
	out->c = c;
	out->px = px;
	jpeg_destroy_decompress(&ci);
	return 0;
}
#endif

void image_free(image_u8 *im)
{
	free(im->px);
	im->px = NULL;
	im->h = im->w = im->c = 0;
}

/* PIL's "L" conversion (ITU-R 601-2 luma in 16-bit fixed point, Convert.c L24). */
static uint8_t luma(const uint8_t *p) { return (uint8_t)((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16); }

/* A binary PNM (P5/P6) header: width, height and maxval of at most 9 digits each. stb_image parses them into an
 * int without an overflow check (signed overflow, found by tests/fuzz/fuzz_image); nothing real is that large. */
static int pnm_check(const unsigned char *b, size_t len, char *why, size_t why_len)
{
	size_t pos = 2;
	for (int field = 0; field < 3; field++) {
		while (pos < len && (isspace(b[pos]) || b[pos] == '#')) {
			if (b[pos] == '#') /* a comment runs to the end of the line */
				while (pos < len && b[pos] != '\n' && b[pos] != '\r')
					pos++;
			else
				pos++;
		}
		size_t digits = 0;
		while (pos < len && isdigit(b[pos]))
			pos++, digits++;
		if (digits > 9) {
			snprintf(why, why_len, "PNM header: a number of %zu digits (width, height or maxval)", digits);
			return -1;
		}
	}
	return 0;
}

int image_decode(const void *buf, size_t len, int want_c, image_u8 *out, char *why, size_t why_len)
{
	memset(out, 0, sizeof *out);
	if (len > INT32_MAX) {
		snprintf(why, why_len, "file too large to decode");
		return -1;
	}
#ifdef AVSL_HAVE_JPEG
	const unsigned char *b = buf;
	/* everything that starts like a JPEG marker goes to libjpeg, which refuses what is not one; stb_image would
	 * skip fill bytes before SOI and decode it with its own JPEG decoder, which reads past a table on some such
	 * inputs (found by tests/fuzz/fuzz_image). Only CMYK/YCCK JPEGs are left to stb. */
	if (len >= 2 && b[0] == 0xff) {
		image_u8 j;
		int rc = decode_jpeg(buf, len, &j, why, why_len);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			int c = want_c ? want_c : j.c;
			if (c == j.c) {
				*out = j;
				return 0;
			}
			out->h = j.h;
			out->w = j.w;
			out->c = c;
			out->px = xmalloc_array((size_t)j.h * j.w, (size_t)c);
			for (size_t i = 0; i < (size_t)j.h * j.w; i++) {
				if (c == 1)
					out->px[i] = luma(j.px + 3 * i);
				else
					out->px[3 * i] = out->px[3 * i + 1] = out->px[3 * i + 2] = j.px[i];
			}
			image_free(&j);
			return 0;
		}
	}
#endif
	static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	if (len >= 8 && !memcmp(buf, png_sig, 8) && png_check(buf, len, why, why_len))
		return -1;
	if (len >= 2 && ((const char *)buf)[0] == 'P' && (((const char *)buf)[1] == '5' || ((const char *)buf)[1] == '6') &&
	    pnm_check(buf, len, why, why_len))
		return -1;
	int w, h, n;
	/* the size from the header first: a bomb is refused before a byte of it is inflated */
	if (stbi_info_from_memory(buf, (int)len, &w, &h, &n) &&
	    over_limits((uint64_t)w, (uint64_t)h,
			(uint64_t)n * (stbi_is_16_bit_from_memory(buf, (int)len) ? 2 : 1), why, why_len))
		return -1;
	unsigned char *px = stbi_load_from_memory(buf, (int)len, &w, &h, &n, 0);
	if (!px) {
		snprintf(why, why_len, "%s", stbi_failure_reason() ? stbi_failure_reason() : "unknown decoder error");
		return -1;
	}
	if (w < 1 || h < 1) { /* stb's PNM reader takes a width it cannot parse as 0 (found by tests/fuzz/fuzz_image) */
		stbi_image_free(px);
		snprintf(why, why_len, "%dx%d pixels: an empty image", w, h);
		return -1;
	}
	if ((uint64_t)w * h > IMAGE_MAX_PIXELS) {
		stbi_image_free(px);
		snprintf(why, why_len, "%dx%d pixels, more than the %llu allowed", w, h,
			 (unsigned long long)IMAGE_MAX_PIXELS);
		return -1;
	}
	int gray_in = n <= 2;
	int c = want_c ? want_c : (gray_in ? 1 : 3);
	size_t npx = (size_t)w * h;
	uint8_t *o = xmalloc_array(npx, (size_t)c);
	for (size_t i = 0; i < npx; i++) {
		const uint8_t *s = px + i * n;
		if (c == 1)
			o[i] = gray_in ? s[0] : luma(s);
		else if (gray_in)
			o[3 * i] = o[3 * i + 1] = o[3 * i + 2] = s[0];
		else
			memcpy(o + 3 * i, s, 3); /* alpha dropped, as PIL's RGBA -> RGB does */
	}
	stbi_image_free(px);
	out->h = h;
	out->w = w;
	out->c = c;
	out->px = o;
	return 0;
}

int image_encode_png(const image_u8 *im, unsigned char **png, size_t *len)
{
	int n = 0;
	unsigned char *p = stbi_write_png_to_mem(im->px, im->w * im->c, im->w, im->h, im->c, &n);
	if (!p)
		return -1;
	*png = xmalloc((size_t)n);
	memcpy(*png, p, (size_t)n);
	STBIW_FREE(p);
	*len = (size_t)n;
	return 0;
}

struct jpg_ctx {
	unsigned char *p;
	size_t n, cap;
};

static void jpg_write(void *ctx, void *data, int size)
{
	struct jpg_ctx *j = ctx;
	if (j->n + (size_t)size > j->cap) {
		j->cap = 2 * (j->n + (size_t)size);
		j->p = xrealloc(j->p, j->cap);
	}
	memcpy(j->p + j->n, data, (size_t)size);
	j->n += (size_t)size;
}

int image_encode_jpeg(const image_u8 *im, int quality, unsigned char **jpg, size_t *len)
{
	struct jpg_ctx j = {0};
	if (!stbi_write_jpg_to_func(jpg_write, &j, im->w, im->h, im->c, im->px, quality)) {
		free(j.p);
		return -1;
	}
	*jpg = j.p;
	*len = j.n;
	return 0;
}

/* ---- PIL bilinear resampling ---------------------------------------------------------------------------- */

#define PRECISION_BITS (32 - 8 - 2)

typedef struct {
	int ksize;
	int *bounds; /* (out, 2): first input index, number of taps */
	int32_t *k;  /* (out, ksize): fixed-point weights */
} coeffs;

static double triangle(double x)
{
	if (x < 0)
		x = -x;
	return x < 1 ? 1 - x : 0;
}

/* PIL precompute_coeffs + normalize_coeffs_8bpc for the bilinear filter (support 1). */
static void precompute(int in_size, int out_size, coeffs *c)
{
	double scale = (double)in_size / out_size, filterscale = scale < 1 ? 1 : scale;
	double support = 1.0 * filterscale;
	int ksize = (int)ceil(support) * 2 + 1;
	double *kd = xmalloc_array((size_t)ksize, sizeof *kd);
	c->ksize = ksize;
	c->bounds = xmalloc_array((size_t)out_size * 2, sizeof *c->bounds);
	c->k = xmalloc_array((size_t)out_size * ksize, sizeof *c->k);
	for (int xx = 0; xx < out_size; xx++) {
		double center = (xx + 0.5) * scale, ww = 0, ss = 1.0 / filterscale;
		int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
		if (xmin < 0)
			xmin = 0;
		if (xmax > in_size)
			xmax = in_size;
		xmax -= xmin;
		for (int x = 0; x < xmax; x++) {
			kd[x] = triangle((x + xmin - center + 0.5) * ss);
			ww += kd[x];
		}
		int32_t *k = c->k + (size_t)xx * ksize;
		for (int x = 0; x < ksize; x++) {
			double v = x < xmax ? (ww != 0 ? kd[x] / ww : kd[x]) : 0;
			k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS)) : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
		}
		c->bounds[2 * xx] = xmin;
		c->bounds[2 * xx + 1] = xmax;
	}
	free(kd);
}

static void coeffs_free(coeffs *c)
{
	free(c->bounds);
	free(c->k);
}

static inline uint8_t clip8(int32_t v)
{
	if (v >= (1 << PRECISION_BITS << 8))
		return 255;
	if (v <= 0)
		return 0;
	return (uint8_t)(v >> PRECISION_BITS);
}

/* Horizontal pass: rows [y0, y0 + nrows) of the box, columns [left, left + bw) resampled to ow. */
static void resample_h(const image_u8 *in, int y0, int nrows, int left, const coeffs *c, int ow, uint8_t *dst)
{
	int ch = in->c;
	for (int y = 0; y < nrows; y++) {
		const uint8_t *row = in->px + ((size_t)(y0 + y) * in->w + left) * ch;
		uint8_t *o = dst + (size_t)y * ow * ch;
		int xx = 0;
#ifdef __AVX2__
		/* two output pixels per 256-bit vector (one per 128-bit half, RGB + a discarded byte), both over the
		 * longer of their two tap lists: the extra taps have weight 0 (precompute pads each list to ksize) */
		if (ch == 3) {
			size_t total = (size_t)in->h * in->w * 3;
			for (; xx + 1 < ow; xx += 2) {
				int x0 = c->bounds[2 * xx], n0 = c->bounds[2 * xx + 1];
				int x1 = c->bounds[2 * xx + 2], n1 = c->bounds[2 * xx + 3];
				int n = n0 > n1 ? n0 : n1;
				const uint8_t *s0 = row + (size_t)x0 * 3, *s1 = row + (size_t)x1 * 3;
				if ((size_t)(s1 - in->px) + 3 * (size_t)n + 1 > total || (size_t)(s0 - in->px) + 3 * (size_t)n + 1 > total)
					break; /* the end of the image: the paths below never read past it */
				const int32_t *k0 = c->k + (size_t)xx * c->ksize, *k1 = k0 + c->ksize;
				__m256i acc = _mm256_set1_epi32(1 << (PRECISION_BITS - 1));
				for (int x = 0; x < n; x++) {
					uint32_t v0, v1;
					memcpy(&v0, s0 + 3 * x, 4);
					memcpy(&v1, s1 + 3 * x, 4);
					__m256i px = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)((uint64_t)v1 << 32 | v0)));
					__m256i w = _mm256_setr_epi32(k0[x], k0[x], k0[x], k0[x], k1[x], k1[x], k1[x], k1[x]);
					acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(px, w));
				}
				__m256i q = _mm256_srai_epi32(acc, PRECISION_BITS);
				q = _mm256_packus_epi16(_mm256_packs_epi32(q, q), q); /* per 128-bit half: clip8 of 4 lanes */
				uint32_t r0 = (uint32_t)_mm256_extract_epi32(q, 0), r1 = (uint32_t)_mm256_extract_epi32(q, 4);
				uint8_t *d = o + 3 * (size_t)xx;
				d[0] = (uint8_t)r0, d[1] = (uint8_t)(r0 >> 8), d[2] = (uint8_t)(r0 >> 16);
				d[3] = (uint8_t)r1, d[4] = (uint8_t)(r1 >> 8), d[5] = (uint8_t)(r1 >> 16);
			}
		}
#endif
		for (; xx < ow; xx++) {
			int xmin = c->bounds[2 * xx], n = c->bounds[2 * xx + 1];
			const int32_t *k = c->k + (size_t)xx * c->ksize;
			const uint8_t *s = row + (size_t)xmin * ch;
#ifdef __SSE4_1__
			/* the three channels of a tap in one vector (the fourth lane reads the next pixel's first byte and
			 * is discarded); the last pixel of the image would read past the buffer, so it stays scalar */
			if (ch == 3 && (size_t)(s - in->px) + 3 * (size_t)n + 1 <= (size_t)in->h * in->w * 3) {
				__m128i acc = _mm_set1_epi32(1 << (PRECISION_BITS - 1));
				for (int x = 0; x < n; x++) {
					int32_t v;
					memcpy(&v, s + 3 * x, 4);
					__m128i px4 = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(v));
					acc = _mm_add_epi32(acc, _mm_mullo_epi32(px4, _mm_set1_epi32(k[x])));
				}
				/* >> 22 then saturate to 0..255: clip8 for every lane */
				__m128i q = _mm_srai_epi32(acc, PRECISION_BITS);
				q = _mm_packus_epi16(_mm_packs_epi32(q, q), q);
				int32_t r = _mm_cvtsi128_si32(q);
				o[3 * xx] = (uint8_t)r;
				o[3 * xx + 1] = (uint8_t)(r >> 8);
				o[3 * xx + 2] = (uint8_t)(r >> 16);
				continue;
			}
#endif
			if (ch == 3) {
				int32_t a = 1 << (PRECISION_BITS - 1), b = a, d = a;
				for (int x = 0; x < n; x++) {
					a += s[3 * x] * k[x];
					b += s[3 * x + 1] * k[x];
					d += s[3 * x + 2] * k[x];
				}
				o[3 * xx] = clip8(a);
				o[3 * xx + 1] = clip8(b);
				o[3 * xx + 2] = clip8(d);
			} else {
				int32_t a = 1 << (PRECISION_BITS - 1);
				for (int x = 0; x < n; x++)
					a += s[x] * k[x];
				o[xx] = clip8(a);
			}
		}
	}
}

/* Vertical pass: src rows are `rowlen` bytes apart; ymin of the bounds is relative to src. */
static void resample_v(const uint8_t *src, size_t stride, size_t rowlen, const coeffs *c, int oh, uint8_t *dst)
{
	int32_t *acc = xmalloc_array(rowlen, sizeof *acc);
	for (int yy = 0; yy < oh; yy++) {
		int ymin = c->bounds[2 * yy], n = c->bounds[2 * yy + 1];
		const int32_t *k = c->k + (size_t)yy * c->ksize;
		uint8_t *o = dst + (size_t)yy * rowlen;
		size_t i0 = 0;
#ifdef __AVX2__
		/* 8 columns at a time, the taps accumulated in a register; same integer arithmetic as below */
		for (; i0 + 8 <= rowlen; i0 += 8) {
			__m256i a = _mm256_set1_epi32(1 << (PRECISION_BITS - 1));
			for (int y = 0; y < n; y++) {
				__m128i b = _mm_loadl_epi64((const __m128i *)(src + (size_t)(ymin + y) * stride + i0));
				a = _mm256_add_epi32(a, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(b), _mm256_set1_epi32(k[y])));
			}
			a = _mm256_srai_epi32(a, PRECISION_BITS);
			__m128i lo = _mm256_castsi256_si128(a), hi = _mm256_extracti128_si256(a, 1);
			__m128i w16 = _mm_packs_epi32(lo, hi);
			_mm_storel_epi64((__m128i *)(o + i0), _mm_packus_epi16(w16, w16));
		}
#endif
		for (size_t i = i0; i < rowlen; i++)
			acc[i] = 1 << (PRECISION_BITS - 1);
		for (int y = 0; y < n; y++) {
			const uint8_t *s = src + (size_t)(ymin + y) * stride;
			int32_t kv = k[y];
			for (size_t i = i0; i < rowlen; i++)
				acc[i] += s[i] * kv;
		}
		for (size_t i = i0; i < rowlen; i++)
			o[i] = clip8(acc[i]);
	}
	free(acc);
}

void image_resize_box(const image_u8 *in, int top, int left, int bh, int bw, int oh, int ow, image_u8 *out)
{
	if (top < 0 || left < 0 || bh < 1 || bw < 1 || top + bh > in->h || left + bw > in->w || oh < 1 || ow < 1)
		die("image_resize_box: box (%d, %d, %d, %d) or size %dx%d outside a %dx%d image", top, left, bh, bw, oh,
		    ow, in->h, in->w);
	int ch = in->c;
	out->h = oh;
	out->w = ow;
	out->c = ch;
	out->px = xmalloc_array((size_t)oh * ow, (size_t)ch);
	int need_h = ow != bw, need_v = oh != bh;
	coeffs cv = {0};
	if (need_v)
		precompute(bh, oh, &cv);
	if (!need_h) {
		if (!need_v) {
			for (int y = 0; y < oh; y++)
				memcpy(out->px + (size_t)y * ow * ch, in->px + ((size_t)(top + y) * in->w + left) * ch,
				       (size_t)ow * ch);
			return;
		}
		resample_v(in->px + ((size_t)top * in->w + left) * ch, (size_t)in->w * ch, (size_t)ow * ch, &cv, oh,
			   out->px);
		coeffs_free(&cv);
		return;
	}
	coeffs chz;
	precompute(bw, ow, &chz);
	if (!need_v) {
		resample_h(in, top, bh, left, &chz, ow, out->px);
		coeffs_free(&chz);
		return;
	}
	/* only the rows the vertical pass reads go through the horizontal pass (PIL's ybox_first/last) */
	int first = cv.bounds[0], last = cv.bounds[2 * oh - 2] + cv.bounds[2 * oh - 1];
	for (int i = 0; i < oh; i++)
		cv.bounds[2 * i] -= first;
	uint8_t *tmp = xmalloc_array((size_t)(last - first) * ow, (size_t)ch);
	resample_h(in, top + first, last - first, left, &chz, ow, tmp);
	resample_v(tmp, (size_t)ow * ch, (size_t)ow * ch, &cv, oh, out->px);
	free(tmp);
	coeffs_free(&chz);
	coeffs_free(&cv);
}

void image_resize_shorter(const image_u8 *in, int shorter, image_u8 *out)
{
	int oh, ow;
	if (in->h <= in->w) {
		oh = shorter;
		ow = (int)((int64_t)shorter * in->w / in->h);
	} else {
		ow = shorter;
		oh = (int)((int64_t)shorter * in->h / in->w);
	}
	if (oh < 1)
		oh = 1;
	if (ow < 1)
		ow = 1;
	image_resize_box(in, 0, 0, in->h, in->w, oh, ow, out);
}

/* ---- crops ----------------------------------------------------------------------------------------------- */

/* Python's round(): half to even. */
static long round_half_even(double x)
{
	double f = floor(x), d = x - f;
	long r = (long)f;
	if (d > 0.5 || (d == 0.5 && (r & 1)))
		r++;
	return r;
}

crop_box random_resized_crop_box(int H, int W, float scale_lo, float scale_hi, float ratio_lo, float ratio_hi,
				 rng *r)
{
	double area = (double)H * W;
	/* torchvision: log_ratio = torch.log(torch.tensor(ratio)) is float32; uniform_ and exp run in float32 */
	float lr0 = logf(ratio_lo), lr1 = logf(ratio_hi);
	for (int attempt = 0; attempt < 10; attempt++) {
		float s = scale_lo + (scale_hi - scale_lo) * rng_uniform(r);
		float ar = expf(lr0 + (lr1 - lr0) * rng_uniform(r));
		double target = area * (double)s;
		long w = round_half_even(sqrt(target * (double)ar));
		long h = round_half_even(sqrt(target / (double)ar));
		if (w > 0 && w <= W && h > 0 && h <= H) {
			crop_box b;
			b.h = (int)h;
			b.w = (int)w;
			b.top = (int)rng_below(r, (uint32_t)(H - h + 1));
			b.left = (int)rng_below(r, (uint32_t)(W - w + 1));
			return b;
		}
	}
	double in_ratio = (double)W / H, rmin = fmin(ratio_lo, ratio_hi), rmax = fmax(ratio_lo, ratio_hi);
	crop_box b;
	if (in_ratio < rmin) {
		b.w = W;
		b.h = (int)round_half_even(W / rmin);
	} else if (in_ratio > rmax) {
		b.h = H;
		b.w = (int)round_half_even(H * rmax);
	} else {
		b.w = W;
		b.h = H;
	}
	b.top = (H - b.h) / 2;
	b.left = (W - b.w) / 2;
	return b;
}

crop_box center_crop_box(int H, int W, int ch, int cw)
{
	crop_box b = {(int)round_half_even((H - ch) / 2.0), (int)round_half_even((W - cw) / 2.0), ch, cw};
	return b;
}

void image_to_tensor(const image_u8 *im, crop_box box, int oh, int ow, int flip, const float *mean, const float *std,
		     int out_c, float *out)
{
	image_u8 gray = {0}, res;
	const image_u8 *src = im;
	crop_box b = box;
	if (im->c == 3 && out_c == 1) { /* PIL converts to L before any resizing */
		gray.h = box.h;
		gray.w = box.w;
		gray.c = 1;
		gray.px = xmalloc_array((size_t)box.h, (size_t)box.w);
		for (int y = 0; y < box.h; y++)
			for (int x = 0; x < box.w; x++)
				gray.px[(size_t)y * box.w + x] =
					luma(im->px + ((size_t)(box.top + y) * im->w + box.left + x) * 3);
		src = &gray;
		b.top = b.left = 0;
	}
	image_resize_box(src, b.top, b.left, b.h, b.w, oh, ow, &res);
	size_t plane = (size_t)oh * ow;
	for (int c = 0; c < out_c; c++) {
		int sc = res.c == 1 ? 0 : c;
		float m = mean[c], sd = std[c];
		float *o = out + c * plane; /* (oh, ow) */
		for (int y = 0; y < oh; y++) {
			const uint8_t *row = res.px + (size_t)y * ow * res.c;
			for (int x = 0; x < ow; x++) {
				int sx = flip ? ow - 1 - x : x;
				float v = (float)row[(size_t)sx * res.c + sc] / 255.0f;
				o[(size_t)y * ow + x] = (v - m) / sd;
			}
		}
	}
	image_free(&res);
	image_free(&gray);
}
