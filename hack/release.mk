# Release targets; the Makefile includes this file. docs/RELEASING.md explains them.

GORELEASER_VERSION ?= v2.15.1
GORELEASER         := $(CURDIR)/_output/bin/goreleaser

.PHONY: release-check krew-manifest release-snapshot

# Snapshot release in a throwaway copy of the tree, krew manifest rendered and
# validated, every archive installed with krew, and the installed plugin run.
release-check:
	$(CURDIR)/hack/release-check.sh

# Renders _output/krew/carotate.yaml from the newest goreleaser output
# (dist/ or _output/dist/).
krew-manifest:
	$(CURDIR)/hack/krew-manifest.sh

# A snapshot build into dist/ of this tree (goreleaser needs a commit and a
# git remote; release-check works without either).
release-snapshot: $(GORELEASER)
	$(GORELEASER) release --snapshot --clean --skip=publish

$(GORELEASER):
	GOBIN=$(CURDIR)/_output/bin go install github.com/goreleaser/goreleaser/v2@$(GORELEASER_VERSION)
