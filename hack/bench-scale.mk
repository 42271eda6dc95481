# make bench-scale: issue 21's scale and remote benchmarks, each on a local
# control plane of its own. Not part of make test (nor of make bench).
#   remote  restart-workloads (default flags) through a proxy that delays
#           every byte 20 ms each way, against kubectl rollout restart per
#           namespace and the best unthrottled client-go loop over
#           concurrencies 10/32/64/128/256; restart-workloads pinned at
#           SCALE_REMOTE_PINNED in flight beside (the gap at equal
#           concurrency is per request, the rest the pace's); then the
#           same on loopback
#   bundle  bundle over SCALE_NAMESPACES namespaces (legacy token Secrets
#           in one in ten) against the best unthrottled client-go loop
#   restart restart-workloads (default flags) over SCALE_NAMESPACES x 5
#           workloads against the client-go loop (make bench's, -only-fast)
#   wait    restart-workloads --wait over SCALE_NAMESPACES x 5 workloads
#           (rollouts simulated through the status subresource), peak RSS
#           against 64 MiB
#   verify  verify --only pods,sa over SCALE_PODS pending pods in
#           SCALE_POD_NAMESPACES namespaces against kubectl get pods -A -o json;
#           then restart-workloads --dry-run=server's pods scan on them
#   status  status (a rotation recorded) over SCALE_PODS pods made Running
#           through their status subresource, in SCALE_POD_NAMESPACES
#           namespaces, against kubectl get pods -A -o json
# The defaults are the issue's full sizes, for a quiet machine (expect
# about two hours on 2 cores, most of it creating the objects); a quick run:
#   make bench-scale SCALE_NAMESPACES=1000 SCALE_PODS=10000 SCALE_POD_NAMESPACES=100 SCALE_REMOTE_NAMESPACES=100
# Results: the tables on stdout, and _output/bench/scale-*.json. verify and
# status exit non-zero over -max-rss-mib; make goes on to the next part
# ("Error 1 (ignored)") so that one part over its limit does not cut the
# run short, as verify did on 2026-12-03.

SCALE_NAMESPACES ?= 10000
SCALE_PODS ?= 150000
SCALE_POD_NAMESPACES ?= 10000
SCALE_REMOTE_NAMESPACES ?= 500
SCALE_REMOTE_PER_NAMESPACE ?= 10
SCALE_REMOTE_PINNED ?= 256
# The loop's concurrencies in the remote part (empty: the binary's default,
# 10,32,64,128,256) and whether kubectl rollout restart runs there (once,
# about 6 minutes at the default size): a shorter remote part, e.g.
#   make bench-scale SCALE_ONLY=remote SCALE_REMOTE_LIMITS=128,256 SCALE_REMOTE_ROLLOUT=false
SCALE_REMOTE_LIMITS ?=
SCALE_REMOTE_ROLLOUT ?= true
SCALE_REPEAT ?= 3
SCALE_WAIT_MAX_IN_FLIGHT ?= 0
SCALE_ONLY ?= remote bundle restart wait verify status

.PHONY: bench-scale

bench-scale: tools build bench-plugin ## issue 21's benchmarks at scale and against a remote API server (SCALE_* sizes; see hack/bench-scale.mk)
	mkdir -p _output/bench
	go build -o $(BIN)/carotate-bench ./hack/bench
	go build -o $(BIN)/carotate-bench-scale ./hack/bench/scale
	$(if $(filter remote,$(SCALE_ONLY)),$(BIN)/carotate-bench-scale -mode remote -plugin $(BENCH_PLUGIN) -loop-bin $(BIN)/carotate-bench \
		-namespaces $(SCALE_REMOTE_NAMESPACES) -per-namespace $(SCALE_REMOTE_PER_NAMESPACE) -pinned $(SCALE_REMOTE_PINNED) \
		-rollout=$(SCALE_REMOTE_ROLLOUT) $(if $(SCALE_REMOTE_LIMITS),-limits $(SCALE_REMOTE_LIMITS)) -json _output/bench/scale-remote.json)
	$(if $(filter bundle,$(SCALE_ONLY)),$(BIN)/carotate-bench-scale -mode bundle -plugin $(BENCH_PLUGIN) \
		-namespaces $(SCALE_NAMESPACES) -secrets-every 10 -json _output/bench/scale-bundle.json)
	$(if $(filter restart,$(SCALE_ONLY)),$(BIN)/carotate-bench -plugin $(BENCH_PLUGIN) -adaptive -only-fast -repeat $(SCALE_REPEAT) \
		-namespaces $(SCALE_NAMESPACES) -per-namespace 5)
	$(if $(filter wait,$(SCALE_ONLY)),$(BIN)/carotate-bench-scale -mode wait -plugin $(BENCH_PLUGIN) -repeat $(SCALE_REPEAT) \
		-namespaces $(SCALE_NAMESPACES) -max-in-flight $(SCALE_WAIT_MAX_IN_FLIGHT) -json _output/bench/scale-wait.json)
	-$(if $(filter verify,$(SCALE_ONLY)),go run ./hack/bench/verify -plugin $(BENCH_PLUGIN) -pods $(SCALE_PODS) -namespaces $(SCALE_POD_NAMESPACES) \
		-max-rss-mib 64 -json _output/bench/scale-verify.json)
	-$(if $(filter status,$(SCALE_ONLY)),go run ./hack/bench/verify -status -plugin $(BENCH_PLUGIN) -pods $(SCALE_PODS) -namespaces $(SCALE_POD_NAMESPACES) \
		-max-rss-mib 64 -json _output/bench/scale-status.json)
