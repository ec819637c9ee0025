/* Unit tests for formats/npy: our bytes equal np.save's (goldens from tests/reference/npy_golden.py). */
#include "harness.h"
#include "npy.h"

#include <stdint.h>

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	rewind(fp);
	unsigned char *b = malloc(n > 0 ? n : 1);
	if (b && fread(b, 1, n, fp) != (size_t)n) {
		free(b);
		b = NULL;
	}
	fclose(fp);
	*len = (size_t)n;
	return b;
}

/* Bytes written by fn into a tmpfile. */
static unsigned char *tmp_bytes(FILE *fp, size_t *len)
{
	long n = ftell(fp);
	rewind(fp);
	unsigned char *b = malloc(n > 0 ? n : 1);
	if (b && fread(b, 1, n, fp) != (size_t)n) {
		free(b);
		b = NULL;
	}
	*len = (size_t)n;
	return b;
}

/* Write with npy_write and compare with the golden file; returns 1 when identical. */
static int same_as_golden(const char *golden, npy_dtype dt, int ndim, const int64_t *shape, const void *data,
			  char *why, size_t wl)
{
	FILE *fp = tmpfile();
	fmt_error err;
	size_t len, glen;
	if (npy_write(fp, golden, dt, ndim, shape, data, &err) < 0) {
		snprintf(why, wl, "%.250s", err.msg);
		fclose(fp);
		return 0;
	}
	unsigned char *got = tmp_bytes(fp, &len);
	fclose(fp);
	char path[256];
	snprintf(path, sizeof path, "tests/golden/npy_%s.npy", golden);
	unsigned char *want = slurp(path, &glen);
	int ok = got && want && len == glen && memcmp(got, want, len) == 0;
	size_t at = 0;
	while (got && want && at < len && at < glen && got[at] == want[at])
		at++;
	snprintf(why, wl, "%s: %zu vs %zu bytes, first difference at byte %zu", path, len, glen, at);
	ok = ok && npy_header_size(ndim, shape) == 10 + (size_t)(want[8] | want[9] << 8);
	free(got);
	free(want);
	return ok;
}

TEST(f32_matrix_matches_numpy)
{
	float a[6];
	for (int i = 0; i < 6; i++)
		a[i] = (i - 2.5f) / 3;
	char why[300];
	CHECKF(same_as_golden("f32_2x3", NPY_F32, 2, (int64_t[]){2, 3}, a, why, sizeof why), "%s", why);
}

TEST(i32_vector_matches_numpy)
{
	int32_t a[4] = {-1, 0, 7, 2147483647};
	char why[300];
	CHECKF(same_as_golden("i32_4", NPY_I32, 1, (int64_t[]){4}, a, why, sizeof why), "%s", why);
}

TEST(i64_4d_matches_numpy)
{
	int64_t a[12];
	for (int i = 0; i < 12; i++)
		a[i] = (int64_t)i * ((int64_t)1 << 33) - 5;
	char why[300];
	CHECKF(same_as_golden("i64_1x2x3x2", NPY_I64, 4, (int64_t[]){1, 2, 3, 2}, a, why, sizeof why), "%s", why);
}

TEST(scalar_and_empty_match_numpy)
{
	float s = 1.25f;
	char why[300];
	CHECKF(same_as_golden("f32_scalar", NPY_F32, 0, NULL, &s, why, sizeof why), "%s", why);
	CHECKF(same_as_golden("f32_0x5", NPY_F32, 2, (int64_t[]){0, 5}, NULL, why, sizeof why), "%s", why);
	CHECKF(same_as_golden("f32_1234567x0", NPY_F32, 2, (int64_t[]){1234567, 0}, NULL, why, sizeof why), "%s", why);
}

TEST(header_rewrite_in_place_keeps_length)
{
	/* a streaming writer: header with 0 rows, rows appended, header rewritten with the final count */
	float a[6];
	for (int i = 0; i < 6; i++)
		a[i] = (i - 2.5f) / 3;
	FILE *fp = tmpfile();
	fmt_error err;
	int ok = npy_write_header(fp, "t", NPY_F32, 2, (int64_t[]){0, 3}, &err) == 0;
	ok = ok && npy_header_size(2, (int64_t[]){0, 3}) == npy_header_size(2, (int64_t[]){123456789012345, 3});
	ok = ok && npy_write_data(fp, "t", NPY_F32, a, 6, &err) == 0;
	long end = ftell(fp);
	rewind(fp);
	ok = ok && npy_write_header(fp, "t", NPY_F32, 2, (int64_t[]){2, 3}, &err) == 0;
	fseek(fp, end, SEEK_SET);
	size_t len, glen;
	unsigned char *got = tmp_bytes(fp, &len);
	fclose(fp);
	unsigned char *want = slurp("tests/golden/npy_f32_2x3.npy", &glen);
	ok = ok && got && want && len == glen && memcmp(got, want, len) == 0;
	free(got);
	free(want);
	CHECK(ok);
}

TEST(rejects_bad_shapes)
{
	FILE *fp = tmpfile();
	fmt_error err;
	CHECK(npy_write_header(fp, "x.npy", NPY_F32, 5, (int64_t[]){1, 1, 1, 1, 1}, &err) == -1 &&
	      strstr(err.msg, "x.npy: npy header"));
	CHECK(npy_write_header(fp, "x.npy", NPY_F32, 1, (int64_t[]){-1}, &err) == -1);
	CHECK(npy_write_header(fp, "x.npy", (npy_dtype)7, 1, (int64_t[]){1}, &err) == -1);
	CHECK(npy_header_size(5, (int64_t[]){1, 1, 1, 1, 1}) == 0);
	CHECK(ftell(fp) == 0);
	fclose(fp);
}

int main(void)
{
	RUN(f32_matrix_matches_numpy);
	RUN(i32_vector_matches_numpy);
	RUN(i64_4d_matches_numpy);
	RUN(scalar_and_empty_match_numpy);
	RUN(header_rewrite_in_place_keeps_length);
	RUN(rejects_bad_shapes);
	return harness_finish();
}
