# make bench: restart-workloads against the baselines of issue 4 (the upstream
# shell loop, kubectl rollout restart per namespace, an unthrottled client-go
# loop), measured in one run on a local control plane that the benchmark starts
# and stops itself. Not part of make test. About 15 minutes on 2 cores.
# BENCH_FLAGS passes flags through, e.g. BENCH_FLAGS="-namespaces 50 -repeat 1".
BENCH_FLAGS ?=

.PHONY: bench
bench: tools build bench-verify ## benchmark restart-workloads; results in _output/bench/results.md (see docs/benchmarks.md)
	go build -o $(BIN)/carotate-bench ./hack/bench
	$(BIN)/carotate-bench $(BENCH_FLAGS)
