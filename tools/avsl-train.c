/* avsl-train: train a ResNet trunk with the AVSL head (or the Proxy-Anchor baseline) on image shards.
 * The official AVSL sample command lines are accepted unchanged (man avsl-train). */
#include "cli.h"
#include "dist.h"
#include "trainer.h"
#include "train_config.h"
#include "util.h"

int main(int argc, char **argv)
{
	cli_omp_passive(argv);
	cli_init(argv[0]);
	dist_init(&argc, &argv); /* under mpirun/srun: data parallel over the ranks (man avsl-train, DISTRIBUTED) */
	train_config c;
	train_config_parse_or_exit(&c, argc, argv);
	int status = trainer_run(&c, argc, argv);
	train_config_free(&c);
	dist_finalize();
	return status;
}
