# pipelines/cars196.mk: Cars196, ResNet-50, 512-d (paper: baseline 87.7, AVSL 91.5 Recall@1). See paper.mk.
# CARS_LR=readme uses the README's learning rates (2e-4 / 2e-4 / 0.1) instead of samples_avsl.sh's (§11-P9).
NAME      := cars196
OUT       ?= runs/cars196
DATA_HELP := the release as downloaded: cars_annos.mat and car_ims/ (or the devkit release, or train/ and test/ class folders); https://ai.stanford.edu/~jkrause/cars/car_dataset.html
TITLE     := Cars196 test (classes 99-196), Recall@K in %
K_LIST    ?= 1,2,4,8
GRAPH_K   ?= 100
EVAL_FLAGS ?=
CARS_LR   ?= samples
ifeq ($(CARS_LR),readme)
AVSL_LR := --lr_collector 0.1 --lr_embedder 0.0002 --lr_trunk 0.0002
else
AVSL_LR := --lr_collector 0.09918213648327627 --lr_embedder 0.00016294139202611374 --lr_trunk 0.00025230934618157737
endif
AVSL_FLAGS := --batch_size 180 --test_batch_size 180 --setting avsl_proxyanchor --feature_dim_list 512 1024 2048 \
	--embeddings_dim 512 --avsl_m 0.5 --topk_corr 128 --prob_gamma 10 --index_p 2 --pa_pos_margin 1.8 \
	--pa_neg_margin 2.2 --pa_alpha 16 --final_pa_pos_margin 1.8 --final_pa_neg_margin 2.2 --final_pa_alpha 16 \
	--num_classes 98 --use_proxy --wd 0.0001 --gamma 0.5 --step 5 --dataset cars196 --model resnet50 \
	--splits_to_eval test --warm_up 5 --warm_up_list embedder collector --loss0_weight=1 --loss1_weight=4 \
	--loss2_weight=4 $(AVSL_LR)
BASELINE_FLAGS := --batch_size 180 --test_batch_size 180 --setting proxy_anchor --embeddings_dim 512 \
	--proxyanchor_margin 0.1 --proxyanchor_alpha 32 --num_classes 98 --wd 0.0001 --gamma 0.5 --step 10 \
	--lr_trunk 0.0001 --lr_embedder 0.0001 --lr_collector 0.01 --dataset cars196 --model resnet50 --warm_up 5 \
	--warm_up_list embedder collector
include pipelines/paper.mk
