# pipelines/cub200.mk: CUB-200-2011, ResNet-50, 512-d (paper: baseline 69.7, AVSL 71.9 Recall@1). See paper.mk.
NAME      := cub200
OUT       ?= runs/cub200
DATA_HELP := the CUB-200-2011 release (images/, images.txt, image_class_labels.txt) or train/ and test/ class folders; https://www.vision.caltech.edu/datasets/cub_200_2011/
TITLE     := CUB-200-2011 test (classes 101-200), Recall@K in %
K_LIST    ?= 1,2,4,8
GRAPH_K   ?= 100
EVAL_FLAGS ?=
# samples_avsl.sh, CUB (avsl-method.md §8.2)
AVSL_FLAGS := --batch_size 180 --test_batch_size 180 --setting avsl_proxyanchor --feature_dim_list 512 1024 2048 \
	--embeddings_dim 512 --avsl_m 0.5 --topk_corr 128 --prob_gamma 10 --index_p 2 --pa_pos_margin 1.8 \
	--pa_neg_margin 2.2 --pa_alpha 16 --final_pa_pos_margin 1.8 --final_pa_neg_margin 2.2 --final_pa_alpha 16 \
	--num_classes 100 --use_proxy --wd 0.0001 --gamma 0.5 --step 10 --dataset cub200 --model resnet50 \
	--splits_to_eval test --warm_up 5 --warm_up_list embedder collector --loss0_weight 0.5 --loss1_weight 1 \
	--loss2_weight 0.5 --lr_trunk 0.00001 --lr_embedder 0.00055 --lr_collector 0.00011
# samples_baseline.sh, CUB (§8.3): gedml's cosine Proxy-Anchor
BASELINE_FLAGS := --batch_size 180 --test_batch_size 180 --setting proxy_anchor --embeddings_dim 512 \
	--proxyanchor_margin 0.1 --proxyanchor_alpha 32 --num_classes 100 --wd 0.0001 --gamma 0.5 --step 5 \
	--lr_trunk 0.0001 --lr_embedder 0.0001 --lr_collector 0.01 --dataset cub200 --model resnet50 --warm_up 5 \
	--warm_up_list embedder collector
include pipelines/paper.mk
