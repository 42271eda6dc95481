#!/usr/bin/env bash
# make demo: a whole CA rotation with kubectl carotate on a local control
# plane, narrated (test/drill). The demo program starts its own cluster
# in-process and stops every process it started, also on Ctrl-C. It needs
# the binaries of "make tools build" in _output/bin (or $CAROTATE_BIN_DIR).
# --kubeadm (make demo KUBEADM=1): the kubeadm node, rotated by the
# printed scripts alone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
go build -o _output/bin/demo ./hack/demo
exec _output/bin/demo "$@"
