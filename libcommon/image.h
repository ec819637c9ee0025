/* image.h: decoding (stb_image), PIL-compatible resizing, crops, flips and normalisation.
 *
 * The official code uses PIL + torchvision transforms; resizing here follows PIL's antialiased bilinear filter
 * (triangle filter whose support widens by the reduction factor), so tensors match the reference to about one
 * grey level. See avsl-method.md §1.3.
 */
#ifndef AVSL_IMAGE_H
#define AVSL_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

typedef struct {
	int h, w, c;  /* c = 1 or 3 */
	uint8_t *px;  /* (h, w, c), owned */
} image_u8;

void image_free(image_u8 *im);

/* Decoding limits: pixels (PIL's MAX_IMAGE_PIXELS) and decoded bytes (pixels x samples x bytes per sample). */
#define IMAGE_DEFAULT_MAX_PIXELS 89478485ull
#define IMAGE_DEFAULT_MAX_BYTES (1ull << 30)
/* Set the limits for the whole process; call before any thread decodes. */
void image_set_limits(uint64_t max_pixels, uint64_t max_bytes);

/* Decode a JPEG/PNG/BMP/GIF(first frame)/... buffer. want_c: 0 keep (gray stays 1, anything else becomes 3),
 * 1 gray, 3 RGB (gray replicated, alpha dropped). Returns 0, or -1 with the decoder's reason in why.
 * JPEGs go through libjpeg(-turbo) when the build has it (AVSL_HAVE_JPEG: PIL's decoder, identical pixels; a
 * truncated JPEG is refused as PIL refuses it), everything else through stb_image. RGB -> gray uses PIL's "L"
 * formula. PNGs are checked chunk by chunk first (CRCs, truncation reported as such). Images over the limits
 * (image_set_limits) are refused from their header, before decoding. Thread-safe. */
int image_decode(const void *buf, size_t len, int want_c, image_u8 *out, char *why, size_t why_len);

/* Resize so the shorter side is `shorter` and the longer is floor(shorter * long / short) (torchvision
 * Resize(int)); a copy when already so. */
void image_resize_shorter(const image_u8 *in, int shorter, image_u8 *out);
/* PIL bilinear (antialiased) resize of the box (top, left, bh, bw) of `in` to (oh, ow). The box is cropped
 * first, as torchvision's resized_crop does (PIL im.crop(box).resize((ow, oh), BILINEAR)): pixels outside the box
 * never contribute. The box must lie inside the image (dies otherwise: a caller bug). */
void image_resize_box(const image_u8 *in, int top, int left, int bh, int bw, int oh, int ow, image_u8 *out);

typedef struct {
	int top, left, h, w;
} crop_box;

/* torchvision RandomResizedCrop.get_params on an H x W image (10 attempts, then the fallback; §1.3). */
crop_box random_resized_crop_box(int H, int W, float scale_lo, float scale_hi, float ratio_lo, float ratio_hi,
				 rng *r);
/* torchvision CenterCrop (top = round((H - ch) / 2) half-to-even, same for left); pads nothing: ch <= H. */
crop_box center_crop_box(int H, int W, int ch, int cw);

/* Crop `box`, resize it to (oh, ow) with PIL bilinear, optionally flip horizontally, scale to [0,1], normalise
 * per channel and write CHW floats with out_c channels (gray replicated when out_c = 3). out: (out_c, oh, ow). */
void image_to_tensor(const image_u8 *im, crop_box box, int oh, int ow, int flip, const float *mean, const float *std,
		     int out_c, float *out);

/* Encode with stb_image_write (tests, benchmarks, synthetic datasets). Return 0, or -1; *out is malloc'd. */
int image_encode_png(const image_u8 *im, unsigned char **png, size_t *len);
int image_encode_jpeg(const image_u8 *im, int quality, unsigned char **jpg, size_t *len);

#endif
