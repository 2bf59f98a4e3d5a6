#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Reproduces bench/notify-model/ (plots, CSVs, the EVI/EoC table) and
# bench/notify-model.txt: the producer/consumer model against its simulator,
# the section 4.1 control, and the EVI/EoC engine against every-packet and
# a 50 us timer. Deterministic: the same output on every run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p notify-model
nm=target/release/notify-model
out=bench/notify-model
{
	echo "# $ $nm regime   (the paper's Figure 4 set-up at W_P = 1.5 us)"
	$nm regime
	echo
	echo "# $ $nm validate --out $out"
	$nm validate --out $out
	echo
	echo "# $ $nm control --out $out"
	$nm control --out $out
	echo
	echo "# $ $nm evi --out $out"
	$nm evi --out $out
} | tee bench/notify-model.txt
