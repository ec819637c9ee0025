/* datasets_cars.h: the Cars196 walker of datasets.c (layout "cars"): cars_annos.mat, or the devkit release, read
 * with matfile.h. See datasets_cars.c for the files and the split. */
#ifndef AVSL_DATASETS_CARS_H
#define AVSL_DATASETS_CARS_H

#include "datasets.h"

/* Whether root holds cars_annos.mat or devkit/cars_train_annos.mat. */
int ds_cars_detect(const char *root);
/* Split "train" (classes 1-98) or "test" (99-196) of root; dies naming the file on a malformed .mat. */
void ds_load_cars(const char *root, const char *split, const ds_filter *f, ds_split *s);

#endif
