/* RandomResizedCrop + flip parameters of the training loader (loader_train_params) against
 * tests/reference/crop_golden.py, which re-implements the documented stream (Philox4x32-10 keyed by the seed, stream
 * id from (epoch, record, "aug"), words consumed last first; checked there against Random123's known answers) and
 * torchvision's get_params: 226 boxes and flips, exactly, including the 10-attempt fallback. */
#include "golden.h"
#include "harness.h"
#include "image.h"
#include "loader.h"
#include "rng.h"

static void check_boxes(const char *cases_name, const char *boxes_name, float slo, float shi, float rlo, float rhi,
			int *failed, char *why, size_t wl)
{
	size_t nc, nb;
	int64_t *cs = gload_i64(cases_name, &nc), *bx = gload_i64(boxes_name, &nb);
	if (!cs || !bx || nc % 5 || nb != nc) {
		snprintf(why, wl, "golden %s/%s missing or malformed", cases_name, boxes_name);
		*failed = 1;
	}
	for (size_t i = 0; !*failed && i < nc / 5; i++) {
		const int64_t *q = cs + 5 * i, *b = bx + 5 * i; /* (H, W, epoch, idx, seed), (top, left, h, w, flip) */
		loader_config lc;
		loader_config_default(&lc);
		lc.scale_lo = slo, lc.scale_hi = shi, lc.ratio_lo = rlo, lc.ratio_hi = rhi;
		lc.seed = (uint64_t)q[4];
		lc.flip = 1;
		crop_box box;
		int flip;
		loader_train_params(&lc, (int)q[2], (uint64_t)q[3], (int)q[0], (int)q[1], &box, &flip);
		if (box.top != b[0] || box.left != b[1] || box.h != b[2] || box.w != b[3] || flip != b[4]) {
			snprintf(why, wl, "%s[%zu] (H %lld W %lld epoch %lld idx %lld seed %lld): (%d %d %d %d flip %d), "
				 "golden (%lld %lld %lld %lld flip %lld)", cases_name, i, (long long)q[0], (long long)q[1],
				 (long long)q[2], (long long)q[3], (long long)q[4], box.top, box.left, box.h, box.w, flip,
				 (long long)b[0], (long long)b[1], (long long)b[2], (long long)b[3], (long long)b[4]);
			*failed = 1;
		}
	}
	free(cs), free(bx);
}

TEST(stream_words_match_reference)
{
	CHECK(golden_open("crop_boxes.safetensors") == 0);
	size_t n;
	int64_t *w = gload_i64("words_e0_i0_s0", &n);
	CHECK(w && n == 8);
	rng r;
	rng_init(&r, 0, rng_stream_id(0, 0, LOADER_RNG_AUG));
	for (size_t i = 0; i < n; i++) {
		uint32_t u = rng_u32(&r);
		CHECKF(u == (uint32_t)w[i], "word %zu: %08x, golden %08x", i, u, (uint32_t)w[i]);
	}
	free(w);
}

TEST(random_resized_crop_matches_reference)
{
	CHECK(golden_open("crop_boxes.safetensors") == 0);
	char why[512] = "";
	int failed = 0;
	check_boxes("cases", "boxes", 0.16f, 1.0f, 0.75f, 1.33f, &failed, why, sizeof why);
	CHECKF(!failed, "%s", why);
	check_boxes("cases_narrow", "boxes_narrow", 0.9f, 1.0f, 2.0f, 3.0f, &failed, why, sizeof why);
	CHECKF(!failed, "%s", why);
}

int main(void)
{
	RUN(stream_words_match_reference);
	RUN(random_resized_crop_matches_reference);
	return harness_finish();
}
