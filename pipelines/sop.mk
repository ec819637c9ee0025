# pipelines/sop.mk: Stanford Online Products, ResNet-50, 512-d (paper: baseline 78.4, AVSL 79.6 Recall@1). AVSL's
# figure is the official mean over 101 query slices (avsl-method.md §7.3, §11-P10): results.txt shows that for AVSL,
# labelled, with the global Recall@1 beside it; the baseline's figure is global, as the official baseline evaluates.
# See paper.mk.
NAME      := sop
OUT       ?= runs/sop
DATA_HELP := the Stanford Online Products release (images/, Info_Files/Ebay_train.txt, Ebay_test.txt); https://cvgl.stanford.edu/projects/lifted_struct/
TITLE     := Stanford Online Products test (11316 classes), Recall@K in %
K_LIST    ?= 1,10,100
GRAPH_K   ?= 101
EVAL_FLAGS ?= --slice-mean 100
AVSL_FIGURE := @slices
AVSL_FLAGS := --batch_size 180 --test_batch_size 180 --setting avsl_proxyanchor --feature_dim_list 512 1024 2048 \
	--embeddings_dim 512 --avsl_m 0.5 --topk_corr 128 --prob_gamma 10 --index_p 2 --pa_pos_margin 1.8 \
	--pa_neg_margin 2.4 --pa_alpha 16 --final_pa_pos_margin 1.8 --final_pa_neg_margin 2.2 --final_pa_alpha 16 \
	--num_classes 11318 --use_proxy --wd 0.0001 --gamma 0.25 --step 15 --dataset online_products \
	--model resnet50 --splits_to_eval test --warm_up 5 --warm_up_list embedder collector --loss0_weight 1 \
	--loss1_weight 4 --loss2_weight 4 --lr_trunk 0.0006 --lr_embedder 0.0006 --lr_collector 0.06 \
	--not_freeze_bn --test_split_num 100 --interval 5 --k_list 1 10 100 --k 101
# samples_baseline.sh, SOP (§8.3). That command takes the AVSL repository's proxy_anchor, the distance Proxy-Anchor
# on non-squared Euclidean distances (§4.3, §11-P1): --baseline-loss distance selects it.
BASELINE_FLAGS := --batch_size 180 --test_batch_size 180 --setting proxy_anchor --embeddings_dim 512 \
	--pa_pos_margin 1.8 --pa_neg_margin 2.4 --pa_alpha 16 --num_classes 11318 --wd 0.0001 --gamma 0.25 \
	--step 15 --lr_trunk 0.0006 --lr_embedder 0.0006 --lr_collector 0.06 --dataset online_products \
	--model resnet50 --warm_up 5 --warm_up_list embedder collector --not_freeze_bn --interval 5 \
	--k_list 1 10 100 --k 101 --eval_exclude NMI AMI f1_score --splits_to_eval test --baseline-loss distance
include pipelines/paper.mk
