/* mksynth: a tiny synthetic image dataset in the IDX format (MNIST layout), for the CI pipeline and the tests.
 *
 *   mksynth DIR CLASSES PER_CLASS SIZE SEED
 *
 * writes DIR/train-images-idx3-ubyte, DIR/train-labels-idx1-ubyte (PER_CLASS images of every class) and the same
 * for t10k (another PER_CLASS per class, different noise). Class c is a bright bar at angle c*180/CLASSES degrees
 * plus a blob whose position depends on c, on noise: easy to tell apart, so a short training must improve on
 * chance, yet no two images are equal. Self-contained (no avsl code) so it can be built with plain cc.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t state;
static double unif(void)
{
	state = state * 6364136223846793005ull + 1442695040888963407ull;
	return (double)(state >> 11) * (1.0 / 9007199254740992.0);
}

static void be32(FILE *f, uint32_t v)
{
	unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
			      (unsigned char)v};
	fwrite(b, 1, 4, f);
}

static void draw(unsigned char *px, int S, int cls, int classes)
{
	double ang = M_PI * cls / classes + (unif() - 0.5) * 0.3;
	double cx = S / 2.0 + (unif() - 0.5) * S * 0.2, cy = S / 2.0 + (unif() - 0.5) * S * 0.2;
	double bx = S * (0.25 + 0.5 * ((cls * 37) % classes) / classes), by = S * (0.25 + 0.5 * ((cls * 11) % 3) / 3.0);
	double ca = cos(ang), sa = sin(ang);
	for (int y = 0; y < S; y++)
		for (int x = 0; x < S; x++) {
			double dx = x - cx, dy = y - cy;
			double across = fabs(-sa * dx + ca * dy), along = fabs(ca * dx + sa * dy);
			double v = 40 * unif();
			if (across < S * 0.08 && along < S * 0.4)
				v += 180;
			double r2 = (x - bx) * (x - bx) + (y - by) * (y - by);
			v += 120 * exp(-r2 / (S * S * 0.01));
			px[y * S + x] = (unsigned char)(v > 255 ? 255 : v);
		}
}

static int write_split(const char *dir, const char *prefix, int classes, int per, int S)
{
	char ip[4096], lp[4096];
	snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte", dir, prefix);
	snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte", dir, prefix);
	FILE *fi = fopen(ip, "wb"), *fl = fopen(lp, "wb");
	if (!fi || !fl) {
		perror(fi ? lp : ip);
		return 1;
	}
	uint32_t n = (uint32_t)(classes * per);
	be32(fi, 0x803), be32(fi, n), be32(fi, (uint32_t)S), be32(fi, (uint32_t)S);
	be32(fl, 0x801), be32(fl, n);
	unsigned char *px = malloc((size_t)S * S);
	for (uint32_t i = 0; i < n; i++) {
		int cls = (int)(i % (uint32_t)classes);
		draw(px, S, cls, classes);
		fwrite(px, 1, (size_t)S * S, fi);
		unsigned char lab = (unsigned char)cls;
		fwrite(&lab, 1, 1, fl);
	}
	free(px);
	int bad = ferror(fi) || ferror(fl);
	bad |= fclose(fi) != 0;
	bad |= fclose(fl) != 0;
	return bad;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: mksynth DIR CLASSES PER_CLASS SIZE SEED\n");
		return 2;
	}
	int classes = atoi(argv[2]), per = atoi(argv[3]), S = atoi(argv[4]);
	state = (uint64_t)strtoull(argv[5], NULL, 10) * 2654435761u + 1;
	if (classes < 2 || classes > 256 || per < 1 || S < 8 || S > 512) {
		fprintf(stderr, "mksynth: classes 2..256, per class >= 1, size 8..512\n");
		return 2;
	}
	if (write_split(argv[1], "train", classes, per, S) || write_split(argv[1], "t10k", classes, per, S)) {
		fprintf(stderr, "mksynth: write failed\n");
		return 1;
	}
	return 0;
}
