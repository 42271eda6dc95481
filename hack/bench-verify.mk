# Benchmark of "kubectl carotate verify --only pods,sa" on 20,000 pods: wall
# time and peak RSS (at most 64 MiB), against "kubectl get pods -A -o json"
# on the same pods. Include from the Makefile and add bench-verify to bench.
# BENCH_VERIFY_PODS=2000 makes a quick run.

BENCH_VERIFY_PODS ?= 20000
BENCH_VERIFY_MAX_RSS_MIB ?= 64

.PHONY: bench-verify

bench-verify: tools build bench-plugin
	mkdir -p _output/bench
	go run ./hack/bench/verify -plugin $(BENCH_PLUGIN) -pods $(BENCH_VERIFY_PODS) -max-rss-mib $(BENCH_VERIFY_MAX_RSS_MIB) -json _output/bench/verify.json
