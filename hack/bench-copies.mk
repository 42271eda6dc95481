# Benchmark of "kubectl carotate verify --only copies" on 20,000 Secrets and
# 20,000 ConfigMaps (a few KiB each, one in a hundred of hundreds of KiB,
# one in fifty a copy of the cluster CA): wall time and peak RSS (at most
# 64 MiB), against "kubectl get secrets,configmaps -A -o json" on the same
# objects. Included from the Makefile; part of make bench, not of make test.
# BENCH_COPIES_OBJECTS=2000 makes a quick run (that many of each).

BENCH_COPIES_OBJECTS ?= 20000
BENCH_COPIES_MAX_RSS_MIB ?= 64

.PHONY: bench-copies

bench-copies: tools build bench-plugin
	mkdir -p _output/bench
	go run ./hack/bench/copies -plugin $(BENCH_PLUGIN) -secrets $(BENCH_COPIES_OBJECTS) -configmaps $(BENCH_COPIES_OBJECTS) \
		-max-rss-mib $(BENCH_COPIES_MAX_RSS_MIB) -json _output/bench/copies.json
