#!/usr/bin/env bash
# The official command lines, pasted unchanged except <path-to-data>/<path-to-log> and "python examples/demo.py" ->
# avsl-train: the six of samples_avsl.sh / samples_baseline.sh (avsl-method.md §8.2-8.3) and the two of the AVSL
# README (Cars196 baseline and AVSL, the latter with its backslash-newline). avsl-train --print-config prints the
# resolved configuration; every expected field below is read off the tables of §8 and the pitfalls of §11 (loss form
# and margins §4/§11-P1, lr per group and epoch §5 with the warm-up of §11-P14, clipping §11-P3, evaluation epochs
# and the reported figure §7.3/§11-P10, proxy subset §3.5/§11-P12), and compared field by field.
. "$(dirname "$0")/lib.sh"

# official NAME EXPECTED_FILE -- avsl-train ARGS...: one FAIL line per field whose value differs (or is missing).
official() {
	local name=$1 want=$2
	shift 3
	local rc=0
	"$@" --print-config >"$T/got" 2>"$T/err" </dev/null || rc=$?
	if [ $rc != 0 ]; then
		echo "FAIL $name: exit status $rc: $(head -c 300 "$T/err")"
		return
	fi
	local bad
	bad=$(awk 'NR == FNR { k = $1; $1 = ""; got[k] = substr($0, 2); next }
		!/^[ \t]*$/ { k = $1; $1 = ""; v = substr($0, 2)
			if (!(k in got)) print "  " k ": missing"
			else if (got[k] != v) print "  " k ": got \"" got[k] "\", expected \"" v "\"" }' \
		<(tr -s ' ' <"$T/got") <(tr -s ' ' <"$want"))
	if [ -n "$bad" ]; then
		echo "FAIL $name: fields differ from avsl-method.md §8:"
		echo "$bad"
	else
		echo "PASS $name"
	fi
}

# ---- fields shared by groups of commands ----
cat >"$T/avsl-common" <<'EOF'
setting avsl_proxyanchor
model resnet50
batch_size 180
test_batch_size 180
embeddings_dim 512
feature_dim_list 512 1024 2048
loss avsl: distance Proxy-Anchor on squared unit-vector distances, final + 3 levels
avsl avsl_m 0.5 topk_corr 128 prob_gamma 10 index_p 2
use_proxy yes
proxy_certainty batch mean
optimizer adamw betas 0.9 0.999 eps 1e-08 weight_decay 0.0001
warm_up 5 epochs, stepping: embedder collector
clip first norm 10 per group
epochs 61
splits_to_eval test
eval_distance avsl final distance
EOF
cat >"$T/base-common" <<'EOF'
setting proxy_anchor
model resnet50
batch_size 180
test_batch_size 180
embeddings_dim 512
proxy_columns all
optimizer adamw betas 0.9 0.999 eps 1e-08 weight_decay 0.0001
warm_up 5 epochs, stepping: embedder collector
clip first norm 10 per group
epochs 61
eval_distance euclidean on L2-normalised embeddings
reported_figure global
EOF
cat >"$T/cub-cars-eval" <<'EOF'
eval_epochs 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60
k_list 1 2 4 8
k auto
batch_norm frozen
EOF
cat >"$T/sop-eval" <<'EOF'
eval_epochs 0 5 10 15 20 25 30 35 40 45 50 55 60
k_list 1 10 100
k 101
batch_norm trained (batch statistics)
num_classes 11318
dataset online_products
lr trunk 0.0006 embedder 0.0006 collector 0.06
step_gamma step 15 gamma 0.25
lr_trunk_epochs 0-4:off 5-19:0.0006 20-34:0.00015 35-49:3.75e-05 50-60:9.375e-06
lr_embedder_epochs 0-19:0.0006 20-34:0.00015 35-49:3.75e-05 50-60:9.375e-06
lr_collector_epochs 0-19:0.06 20-34:0.015 35-49:0.00375 50-60:0.0009375
EOF

# ---- AVSL, samples_avsl.sh ----
cat >"$T/avsl-cars" <<'EOF'
dataset cars196
num_classes 98
level_pa pos_margin 1.8 neg_margin 2.2 alpha 16
final_pa pos_margin 1.8 neg_margin 2.2 alpha 16
loss_weights final 1 level0 1 level1 4 level2 4
proxy_columns all
EOF
cat "$T/avsl-common" "$T/cub-cars-eval" - >"$T/want" <<'EOF'
dataset cub200
num_classes 100
level_pa pos_margin 1.8 neg_margin 2.2 alpha 16
final_pa pos_margin 1.8 neg_margin 2.2 alpha 16
loss_weights final 1 level0 0.5 level1 1 level2 0.5
proxy_columns all
lr trunk 1e-05 embedder 0.00055 collector 0.00011
step_gamma step 10 gamma 0.5
lr_trunk_epochs 0-4:off 5-14:1e-05 15-24:5e-06 25-34:2.5e-06 35-44:1.25e-06 45-54:6.25e-07 55-60:3.125e-07
lr_embedder_epochs 0-14:0.00055 15-24:0.000275 25-34:0.0001375 35-44:6.875e-05 45-54:3.4375e-05 55-60:1.71875e-05
lr_collector_epochs 0-14:0.00011 15-24:5.5e-05 25-34:2.75e-05 35-44:1.375e-05 45-54:6.875e-06 55-60:3.4375e-06
reported_figure global
selection test recall@1 (global) patience 15 or <= 0.6 x best
EOF
official official_avsl_cub "$T/want" -- \
avsl-train --data_path data/cub200 --save_path logs --device 0 --batch_size 180 --test_batch_size 180 --setting avsl_proxyanchor --feature_dim_list 512 1024 2048 --embeddings_dim 512 --avsl_m 0.5 --topk_corr 128 --prob_gamma 10 --index_p 2 --pa_pos_margin 1.8 --pa_neg_margin 2.2 --pa_alpha 16 --final_pa_pos_margin 1.8 --final_pa_neg_margin 2.2 --final_pa_alpha 16 --num_classes 100 --use_proxy --wd 0.0001 --gamma 0.5 --step 10 --dataset cub200 --model resnet50 --splits_to_eval test --warm_up 5 --warm_up_list embedder collector --loss0_weight=0.5 --loss1_weight=1 --loss2_weight=0.5 --lr_collector=0.00011 --lr_embedder=0.00055 --lr_trunk=0.00001 --save_name proxy-anchor-resnet50-cub200-avsl

cat "$T/avsl-common" "$T/cub-cars-eval" "$T/avsl-cars" - >"$T/want" <<'EOF'
lr trunk 0.0002523093462 embedder 0.000162941392 collector 0.09918213648
step_gamma step 5 gamma 0.5
lr_trunk_epochs 0-4:off 5-9:0.0002523093462 10-14:0.0001261546731 15-19:6.307733655e-05 20-24:3.153866827e-05 25-29:1.576933414e-05 30-34:7.884667068e-06 35-39:3.942333534e-06 40-44:1.971166767e-06 45-49:9.855833835e-07 50-54:4.927916918e-07 55-59:2.463958459e-07 60:1.231979229e-07
lr_embedder_epochs 0-9:0.000162941392 10-14:8.147069601e-05 15-19:4.073534801e-05 20-24:2.0367674e-05 25-29:1.0183837e-05 30-34:5.091918501e-06 35-39:2.54595925e-06 40-44:1.272979625e-06 45-49:6.364898126e-07 50-54:3.182449063e-07 55-59:1.591224532e-07 60:7.956122658e-08
lr_collector_epochs 0-9:0.09918213648 10-14:0.04959106824 15-19:0.02479553412 20-24:0.01239776706 25-29:0.00619888353 30-34:0.003099441765 35-39:0.001549720883 40-44:0.0007748604413 45-49:0.0003874302206 50-54:0.0001937151103 55-59:9.685755516e-05 60:4.842877758e-05
reported_figure global
EOF
official official_avsl_cars "$T/want" -- \
avsl-train --data_path data/cars196 --save_path logs --device 0 --batch_size 180 --test_batch_size 180 --setting avsl_proxyanchor --feature_dim_list 512 1024 2048 --embeddings_dim 512 --avsl_m 0.5 --topk_corr 128 --prob_gamma 10 --index_p 2 --pa_pos_margin 1.8 --pa_neg_margin 2.2 --pa_alpha 16 --final_pa_pos_margin 1.8 --final_pa_neg_margin 2.2 --final_pa_alpha 16 --num_classes 98 --use_proxy --wd 0.0001 --gamma 0.5 --step 5 --dataset cars196 --model resnet50 --splits_to_eval test --warm_up 5 --warm_up_list embedder collector --loss0_weight=1 --loss1_weight=4 --loss2_weight=4 --lr_collector=0.09918213648327627 --lr_embedder=0.00016294139202611374 --lr_trunk=0.00025230934618157737 --save_name proxy-anchor-resnet50-cars196-avsl

# SOP: pa_neg_margin 2.4 for the levels, 2.2 for the final loss; proxies of the batch's labels (K > 1000); the
# reported figure is the mean over 100 slices + the remainder (§7.3), which also selects the model.
cat "$T/avsl-common" "$T/sop-eval" - >"$T/want" <<'EOF'
level_pa pos_margin 1.8 neg_margin 2.4 alpha 16
final_pa pos_margin 1.8 neg_margin 2.2 alpha 16
loss_weights final 1 level0 1 level1 4 level2 4
proxy_columns batch labels (num_classes 11318 > 1000)
reported_figure mean over 100 query slices + the remainder slice
selection test recall@1 (slice mean) patience 15 or <= 0.6 x best
EOF
official official_avsl_sop "$T/want" -- \
avsl-train --data_path data/online_products --save_path logs --device 0 --batch_size 180 --test_batch_size 180 --setting avsl_proxyanchor --feature_dim_list 512 1024 2048 --embeddings_dim 512 --avsl_m 0.5 --topk_corr 128 --prob_gamma 10 --index_p 2 --loss0_weight 1.0 --loss1_weight 4.0 --loss2_weight 4.0 --pa_pos_margin 1.8 --pa_neg_margin 2.4 --pa_alpha 16 --final_pa_pos_margin 1.8 --final_pa_neg_margin 2.2 --final_pa_alpha 16 --num_classes 11318 --use_proxy --wd 0.0001 --gamma 0.25 --step 15 --lr_trunk 0.0006 --lr_embedder 0.0006 --lr_collector 0.06 --dataset online_products --delete_old --model resnet50 --splits_to_eval test --warm_up 5 --warm_up_list embedder collector --not_freeze_bn --test_split_num 100 --interval 5 --k_list 1 10 100 --k 101 --save_name proxy-anchor-resnet50-online-avsl

# ---- baselines, samples_baseline.sh: CUB/Cars pass gedml's --proxyanchor_* (cosine PA, §4.3) ----
cat "$T/base-common" "$T/cub-cars-eval" - >"$T/want" <<'EOF'
dataset cub200
num_classes 100
loss baseline: cosine Proxy-Anchor
baseline_pa margin 0.1 alpha 32
lr trunk 0.0001 embedder 0.0001 collector 0.01
step_gamma step 5 gamma 0.5
lr_trunk_epochs 0-4:off 5-9:0.0001 10-14:5e-05 15-19:2.5e-05 20-24:1.25e-05 25-29:6.25e-06 30-34:3.125e-06 35-39:1.5625e-06 40-44:7.8125e-07 45-49:3.90625e-07 50-54:1.953125e-07 55-59:9.765625e-08 60:4.8828125e-08
lr_embedder_epochs 0-9:0.0001 10-14:5e-05 15-19:2.5e-05 20-24:1.25e-05 25-29:6.25e-06 30-34:3.125e-06 35-39:1.5625e-06 40-44:7.8125e-07 45-49:3.90625e-07 50-54:1.953125e-07 55-59:9.765625e-08 60:4.8828125e-08
lr_collector_epochs 0-9:0.01 10-14:0.005 15-19:0.0025 20-24:0.00125 25-29:0.000625 30-34:0.0003125 35-39:0.00015625 40-44:7.8125e-05 45-49:3.90625e-05 50-54:1.953125e-05 55-59:9.765625e-06 60:4.8828125e-06
EOF
official official_baseline_cub "$T/want" -- \
avsl-train --data_path data/cub200 --save_path logs --device 0 --batch_size 180 --test_batch_size 180 --setting proxy_anchor --embeddings_dim 512 --proxyanchor_margin 0.1 --proxyanchor_alpha 32 --num_classes 100 --wd 0.0001 --gamma 0.5 --step 5 --lr_trunk 0.0001 --lr_embedder 0.0001 --lr_collector 0.01 --dataset cub200 --model resnet50 --delete_old --warm_up 5 --warm_up_list embedder collector --save_name proxy-anchor-resnet50-cub200-baseline

cat "$T/base-common" "$T/cub-cars-eval" - >"$T/want-base-cars" <<'EOF'
dataset cars196
num_classes 98
loss baseline: cosine Proxy-Anchor
baseline_pa margin 0.1 alpha 32
lr trunk 0.0001 embedder 0.0001 collector 0.01
step_gamma step 10 gamma 0.5
lr_trunk_epochs 0-4:off 5-14:0.0001 15-24:5e-05 25-34:2.5e-05 35-44:1.25e-05 45-54:6.25e-06 55-60:3.125e-06
lr_embedder_epochs 0-14:0.0001 15-24:5e-05 25-34:2.5e-05 35-44:1.25e-05 45-54:6.25e-06 55-60:3.125e-06
lr_collector_epochs 0-14:0.01 15-24:0.005 25-34:0.0025 35-44:0.00125 45-54:0.000625 55-60:0.0003125
EOF
official official_baseline_cars "$T/want-base-cars" -- \
avsl-train --data_path data/cars196 --save_path logs --device 0 --batch_size 180 --test_batch_size 180 --setting proxy_anchor --embeddings_dim 512 --proxyanchor_margin 0.1 --proxyanchor_alpha 32 --num_classes 98 --wd 0.0001 --gamma 0.5 --step 10 --lr_trunk 0.0001 --lr_embedder 0.0001 --lr_collector 0.01 --dataset cars196 --model resnet50 --delete_old --warm_up 5 --warm_up_list embedder collector --save_name proxy-anchor-resnet50-cars196-baseline

# SOP baseline: the AVSL repository's proxy_anchor (distance PA on non-squared distances with --pa_*, §11-P1), which
# ignores --test_split_num and every AVSL-only flag (§8.3): evaluated and selected globally, one notice on stderr.
cat "$T/base-common" "$T/sop-eval" - >"$T/want" <<'EOF'
loss baseline: distance Proxy-Anchor on Euclidean (non-squared) unit-vector distances
baseline_pa pos_margin 1.8 neg_margin 2.4 alpha 16
selection test recall@1 (global) patience 15 or <= 0.6 x best
eval_exclude NMI AMI f1_score
EOF
official official_baseline_sop "$T/want" -- \
avsl-train --data_path data/online_products --save_path logs --device 0 --batch_size 180 --test_batch_size 180 --setting proxy_anchor --feature_dim_list 512 1024 2048 --embeddings_dim 512 --avsl_m 0.5 --topk_corr 128 --prob_gamma 10 --index_p 2 --loss0_weight 1.0 --loss1_weight 4.0 --loss2_weight 4.0 --pa_pos_margin 1.8 --pa_neg_margin 2.4 --pa_alpha 16 --final_pa_pos_margin 1.8 --final_pa_neg_margin 2.2 --final_pa_alpha 16 --num_classes 11318 --use_proxy --wd 0.0001 --gamma 0.25 --step 15 --lr_trunk 0.0006 --lr_embedder 0.0006 --lr_collector 0.06 --dataset online_products --delete_old --model resnet50 --splits_to_eval test --warm_up 5 --warm_up_list embedder collector --not_freeze_bn --test_split_num 100 --interval 5 --k_list 1 10 100 --k 101 --eval_exclude NMI AMI f1_score --save_name proxy-anchor-resnet50-online-baseline
check official_baseline_sop_notice "grep -q 'ignored by --setting proxy_anchor.*--test_split_num' $T/err"

# ---- the README's two commands (Cars196); its AVSL line uses the README learning rates (§11-P9) ----
official readme_baseline_cars "$T/want-base-cars" -- \
avsl-train --data_path data/cars196 --save_path logs --device 0 --batch_size 180 --test_batch_size 180 --setting proxy_anchor --embeddings_dim 512 --proxyanchor_margin 0.1 --proxyanchor_alpha 32 --num_classes 98 --wd 0.0001 --gamma 0.5 --step 10 --lr_trunk 0.0001 --lr_embedder 0.0001 --lr_collector 0.01 --dataset cars196 --model resnet50 --delete_old --save_name proxy-anchor-resnet50-cars196-baseline --warm_up 5 --warm_up_list embedder collector

cat "$T/avsl-common" "$T/cub-cars-eval" "$T/avsl-cars" - >"$T/want" <<'EOF'
lr trunk 0.0002 embedder 0.0002 collector 0.1
step_gamma step 5 gamma 0.5
lr_trunk_epochs 0-4:off 5-9:0.0002 10-14:0.0001 15-19:5e-05 20-24:2.5e-05 25-29:1.25e-05 30-34:6.25e-06 35-39:3.125e-06 40-44:1.5625e-06 45-49:7.8125e-07 50-54:3.90625e-07 55-59:1.953125e-07 60:9.765625e-08
lr_embedder_epochs 0-9:0.0002 10-14:0.0001 15-19:5e-05 20-24:2.5e-05 25-29:1.25e-05 30-34:6.25e-06 35-39:3.125e-06 40-44:1.5625e-06 45-49:7.8125e-07 50-54:3.90625e-07 55-59:1.953125e-07 60:9.765625e-08
lr_collector_epochs 0-9:0.1 10-14:0.05 15-19:0.025 20-24:0.0125 25-29:0.00625 30-34:0.003125 35-39:0.0015625 40-44:0.00078125 45-49:0.000390625 50-54:0.0001953125 55-59:9.765625e-05 60:4.8828125e-05
EOF
official readme_avsl_cars "$T/want" -- \
avsl-train --data_path data/cars196 --save_path logs --device 0 --batch_size 180 --test_batch_size 180 --setting avsl_proxyanchor --feature_dim_list 512 1024 2048 --embeddings_dim 512 --avsl_m 0.5 --topk_corr 128 --prob_gamma 10 --index_p 2 --pa_pos_margin 1.8 --pa_neg_margin 2.2 --pa_alpha 16 --final_pa_pos_margin 1.8 --final_pa_neg_margin 2.2 --final_pa_alpha 16 --num_classes 98 --use_proxy --wd 0.0001 --gamma 0.5 --step 5 --dataset cars196 --model resnet50 --splits_to_eval test --warm_up 5 --warm_up_list embedder collector --loss0_weight=1 --loss1_weight=4 --loss2_weight=4 --lr_collector=0.1 --lr_embedder=0.0002 --lr_trunk=0.0002 \
--save_name proxy-anchor-resnet50-cars196-avsl

# --print-config trains nothing and writes nothing; --no-use-proxy says it is ignored.
expect print_config_no_training 0 - '' -- avsl-train --data_path "$T/none" --print-config -q
check print_config_wrote_nothing "test ! -e run && test ! -e '$T/none'"
expect no_use_proxy_notice 0 - 'no-use-proxy is accepted and ignored' -- avsl-train --data_path x --no-use-proxy \
	--print-config
