#!/usr/bin/env bash
# kubectl carotate instructions -o script --target front-proxy-ca --phase
# finish (rotation 20261203-f00d01): the steps of node cp-1 and the
# workstation.
# Run it as root on cp-1.
# The workstation steps (kubectl carotate commands) run here too, with your
# kubeconfig.
#
# Each step runs only if its check shows it is not done, and its check must
# pass after it: the script stops at the first step that did not take, saying
# why, and a re-run resumes there without doing anything twice. Waits poll
# every 2 s and give up after CAROTATE_TIMEOUT seconds (default 300).
# CAROTATE_SHOW=1 prints each command before it runs.
set -euo pipefail
set -o errtrace

# (the helpers of pkg/checks/scripthelpers.sh)

# The rotation, and what every step needs before the first one runs.
carotate_rotation=20261203-f00d01
: "${CAROTATE_TIMEOUT:=300}"
carotate_on_node cp-1
carotate_need crictl curl kubectl openssl


##############################################################################
# Step 3 from the workstation: The old front-proxy CA dropped:
# --requestheader-client-ca-file and extension-apiserver-authentication hold
# the new CA alone

# Check that every API server uses a proxy client certificate from the new
# front-proxy CA and the aggregated APIs answer, before the old CA goes
carotate_step 3 'from the workstation' 'Check that every API server uses a proxy client certificate from the new front-proxy CA and the aggregated APIs answer, before the old CA goes'
kubectl carotate verify --target front-proxy-ca

##############################################################################
# Step 3 on cp-1: The old front-proxy CA dropped:
# --requestheader-client-ca-file and extension-apiserver-authentication hold
# the new CA alone

# Back up /etc/kubernetes/pki/front-proxy-ca.crt
carotate_step 3 'on cp-1' 'Back up /etc/kubernetes/pki/front-proxy-ca.crt'
if ! carotate_backed_up /var/backups/carotate-20261203-f00d01/step-3 /etc/kubernetes/pki/front-proxy-ca.crt; then
  mkdir -p /var/backups/carotate-20261203-f00d01/step-3 && (cd / && cp -a --parents /etc/kubernetes/pki/front-proxy-ca.crt /var/backups/carotate-20261203-f00d01/step-3/)
  carotate_backed_up /var/backups/carotate-20261203-f00d01/step-3 /etc/kubernetes/pki/front-proxy-ca.crt || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/pki/front-proxy-ca.crt'; fi

# Back up /etc/kubernetes/pki/front-proxy-ca.key
carotate_step 3 'on cp-1' 'Back up /etc/kubernetes/pki/front-proxy-ca.key'
if ! carotate_backed_up /var/backups/carotate-20261203-f00d01/step-3 /etc/kubernetes/pki/front-proxy-ca.key; then
  mkdir -p /var/backups/carotate-20261203-f00d01/step-3 && (cd / && cp -a --parents /etc/kubernetes/pki/front-proxy-ca.key /var/backups/carotate-20261203-f00d01/step-3/)
  carotate_backed_up /var/backups/carotate-20261203-f00d01/step-3 /etc/kubernetes/pki/front-proxy-ca.key || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/pki/front-proxy-ca.key'; fi

# Back up /etc/kubernetes/pki/front-proxy-client.crt
carotate_step 3 'on cp-1' 'Back up /etc/kubernetes/pki/front-proxy-client.crt'
if ! carotate_backed_up /var/backups/carotate-20261203-f00d01/step-3 /etc/kubernetes/pki/front-proxy-client.crt; then
  mkdir -p /var/backups/carotate-20261203-f00d01/step-3 && (cd / && cp -a --parents /etc/kubernetes/pki/front-proxy-client.crt /var/backups/carotate-20261203-f00d01/step-3/)
  carotate_backed_up /var/backups/carotate-20261203-f00d01/step-3 /etc/kubernetes/pki/front-proxy-client.crt || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/pki/front-proxy-client.crt'; fi

# The new front-proxy CA alone, into the original front-proxy-ca.crt, which
# nothing reads now
carotate_step 3 'on cp-1' 'The new front-proxy CA alone, into the original front-proxy-ca.crt, which nothing reads now'
if ! carotate_certs /etc/kubernetes/pki/front-proxy-ca.crt 93bf1f099a8d1dbdcb625487be8aeb0114a1d49b0c8ce0a06cd595bac6f0dfdc; then
  cat >/etc/kubernetes/pki/front-proxy-ca.crt <<'EOF'
-----BEGIN CERTIFICATE-----
MIIBoDCCAUegAwIBAgIUdHtPnjNgAk5D8ZHWX/xc0O0ypGAwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSZnJvbnQtcHJveHktY2EtbmV3MCAXDTI2MTIwMjE5MTIxOVoY
DzIxMjYxMTA4MTkxMjE5WjAdMRswGQYDVQQDDBJmcm9udC1wcm94eS1jYS1uZXcw
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASXa1k4+/LogSl09RGrQuqTZPOJt85U
SJLy2jmXICa+A51+NEKhItemlXrXPlIoL55/2fSbk863SMTq1UDsoYoKo2MwYTAd
BgNVHQ4EFgQUaXuWAtT/3Yi5D88680Cj8X2h4hgwHwYDVR0jBBgwFoAUaXuWAtT/
3Yi5D88680Cj8X2h4hgwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYw
CgYIKoZIzj0EAwIDRwAwRAIgI/s+t8z+BQfcYP5GLAb8JKCsZUaBsXmZnc8wZ1CT
FygCIAkY7ecF3Fbp2fulN+x9Gx2mFWB9ccfIghJm1lyqHQdn
-----END CERTIFICATE-----
EOF
  chmod 0644 /etc/kubernetes/pki/front-proxy-ca.crt
  carotate_certs /etc/kubernetes/pki/front-proxy-ca.crt 93bf1f099a8d1dbdcb625487be8aeb0114a1d49b0c8ce0a06cd595bac6f0dfdc || carotate_did_not_take
else carotate_already 'The new front-proxy CA alone, into the original front-proxy-ca.crt, which nothing reads now'; fi

# Copy front-proxy-ca-new.key (step 2's new CA key) over front-proxy-ca.key
carotate_step 3 'on cp-1' "Copy front-proxy-ca-new.key (step 2's new CA key) over front-proxy-ca.key"
if ! carotate_key_file /etc/kubernetes/pki/front-proxy-ca.key 6801484a7ee7c86344e0237bc6b02e4602273dab6f90a0a07d2b2231e01e9146 "the new front-proxy CA's key"; then
  install -m 0600 /etc/kubernetes/pki/front-proxy-ca-new.key /etc/kubernetes/pki/front-proxy-ca.key
  carotate_key_file /etc/kubernetes/pki/front-proxy-ca.key 6801484a7ee7c86344e0237bc6b02e4602273dab6f90a0a07d2b2231e01e9146 "the new front-proxy CA's key" || carotate_did_not_take
else carotate_already "Copy front-proxy-ca-new.key (step 2's new CA key) over front-proxy-ca.key"; fi

# Copy front-proxy-client-new.crt (step 2) over front-proxy-client.crt, which
# nothing reads now
carotate_step 3 'on cp-1' 'Copy front-proxy-client-new.crt (step 2) over front-proxy-client.crt, which nothing reads now'
if ! carotate_same /etc/kubernetes/pki/front-proxy-client-new.crt /etc/kubernetes/pki/front-proxy-client.crt; then
  cp /etc/kubernetes/pki/front-proxy-client-new.crt /etc/kubernetes/pki/front-proxy-client.crt
  carotate_same /etc/kubernetes/pki/front-proxy-client-new.crt /etc/kubernetes/pki/front-proxy-client.crt || carotate_did_not_take
else carotate_already 'Copy front-proxy-client-new.crt (step 2) over front-proxy-client.crt, which nothing reads now'; fi

# Back up /etc/kubernetes/manifests/kube-apiserver.yaml
carotate_step 3 'on cp-1' 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'
if ! carotate_backed_up /var/backups/carotate-20261203-f00d01/step-3 /etc/kubernetes/manifests/kube-apiserver.yaml; then
  mkdir -p /var/backups/carotate-20261203-f00d01/step-3 && (cd / && cp -a --parents /etc/kubernetes/manifests/kube-apiserver.yaml /var/backups/carotate-20261203-f00d01/step-3/)
  carotate_backed_up /var/backups/carotate-20261203-f00d01/step-3 /etc/kubernetes/manifests/kube-apiserver.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'; fi

# kube-apiserver:
# --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt (new
# front-proxy CA)
carotate_step 3 'on cp-1' 'kube-apiserver: --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt (new front-proxy CA)'
if ! carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --requestheader-client-ca-file /etc/kubernetes/pki/front-proxy-ca.crt; then
  sed -i -e 's|- --requestheader-client-ca-file=.*|- --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt|' /etc/kubernetes/manifests/kube-apiserver.yaml
  carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --requestheader-client-ca-file /etc/kubernetes/pki/front-proxy-ca.crt || carotate_did_not_take
else carotate_already 'kube-apiserver: --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt (new front-proxy CA)'; fi

# kube-apiserver:
# --proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.crt
carotate_step 3 'on cp-1' 'kube-apiserver: --proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.crt'
if ! carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --proxy-client-cert-file /etc/kubernetes/pki/front-proxy-client.crt; then
  sed -i -e 's|- --proxy-client-cert-file=.*|- --proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.crt|' /etc/kubernetes/manifests/kube-apiserver.yaml
  carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --proxy-client-cert-file /etc/kubernetes/pki/front-proxy-client.crt || carotate_did_not_take
else carotate_already 'kube-apiserver: --proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.crt'; fi

# Wait for kube-apiserver to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running
carotate_step 3 'on cp-1' 'Wait for kube-apiserver to restart'
if ! carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /etc/kubernetes/pki/front-proxy-ca.crt /etc/kubernetes/pki/front-proxy-ca.key /etc/kubernetes/pki/front-proxy-client.crt /etc/kubernetes/manifests/kube-apiserver.yaml; then
  crictl ps --name '^kube-apiserver$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-apiserver to run again and answer https://127.0.0.1:6443/readyz' carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /etc/kubernetes/pki/front-proxy-ca.crt /etc/kubernetes/pki/front-proxy-ca.key /etc/kubernetes/pki/front-proxy-client.crt /etc/kubernetes/manifests/kube-apiserver.yaml
else carotate_already 'kube-apiserver runs, started after the changes above'; fi

# Back up /etc/kubernetes/manifests/kube-controller-manager.yaml
carotate_step 3 'on cp-1' 'Back up /etc/kubernetes/manifests/kube-controller-manager.yaml'
if ! carotate_backed_up /var/backups/carotate-20261203-f00d01/step-3 /etc/kubernetes/manifests/kube-controller-manager.yaml; then
  mkdir -p /var/backups/carotate-20261203-f00d01/step-3 && (cd / && cp -a --parents /etc/kubernetes/manifests/kube-controller-manager.yaml /var/backups/carotate-20261203-f00d01/step-3/)
  carotate_backed_up /var/backups/carotate-20261203-f00d01/step-3 /etc/kubernetes/manifests/kube-controller-manager.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/kube-controller-manager.yaml'; fi

# kube-controller-manager:
# --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt (new
# front-proxy CA)
carotate_step 3 'on cp-1' 'kube-controller-manager: --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt (new front-proxy CA)'
if ! carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --requestheader-client-ca-file /etc/kubernetes/pki/front-proxy-ca.crt; then
  sed -i -e 's|- --requestheader-client-ca-file=.*|- --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt|' /etc/kubernetes/manifests/kube-controller-manager.yaml
  carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --requestheader-client-ca-file /etc/kubernetes/pki/front-proxy-ca.crt || carotate_did_not_take
else carotate_already 'kube-controller-manager: --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt (new front-proxy CA)'; fi

# Wait for kube-controller-manager to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running
carotate_step 3 'on cp-1' 'Wait for kube-controller-manager to restart'
if ! carotate_static_pod kube-controller-manager https://127.0.0.1:10257/healthz /etc/kubernetes/pki/front-proxy-ca.crt /etc/kubernetes/pki/front-proxy-ca.key /etc/kubernetes/pki/front-proxy-client.crt /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/manifests/kube-controller-manager.yaml; then
  crictl ps --name '^kube-controller-manager$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-controller-manager to run again and answer https://127.0.0.1:10257/healthz' carotate_static_pod kube-controller-manager https://127.0.0.1:10257/healthz /etc/kubernetes/pki/front-proxy-ca.crt /etc/kubernetes/pki/front-proxy-ca.key /etc/kubernetes/pki/front-proxy-client.crt /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/manifests/kube-controller-manager.yaml
else carotate_already 'kube-controller-manager runs, started after the changes above'; fi

# Remove front-proxy-ca-bundle.crt (a transition file of steps 1 and 2), which
# nothing reads now
carotate_step 3 'on cp-1' 'Remove front-proxy-ca-bundle.crt (a transition file of steps 1 and 2), which nothing reads now'
if ! carotate_absent /etc/kubernetes/pki/front-proxy-ca-bundle.crt; then
  rm -f /etc/kubernetes/pki/front-proxy-ca-bundle.crt
  carotate_absent /etc/kubernetes/pki/front-proxy-ca-bundle.crt || carotate_did_not_take
else carotate_already 'Remove front-proxy-ca-bundle.crt (a transition file of steps 1 and 2), which nothing reads now'; fi

# Remove front-proxy-ca-new.crt (a transition file of steps 1 and 2), which
# nothing reads now
carotate_step 3 'on cp-1' 'Remove front-proxy-ca-new.crt (a transition file of steps 1 and 2), which nothing reads now'
if ! carotate_absent /etc/kubernetes/pki/front-proxy-ca-new.crt; then
  rm -f /etc/kubernetes/pki/front-proxy-ca-new.crt
  carotate_absent /etc/kubernetes/pki/front-proxy-ca-new.crt || carotate_did_not_take
else carotate_already 'Remove front-proxy-ca-new.crt (a transition file of steps 1 and 2), which nothing reads now'; fi

# Remove front-proxy-ca-new.key (a transition file of steps 1 and 2), which
# nothing reads now
carotate_step 3 'on cp-1' 'Remove front-proxy-ca-new.key (a transition file of steps 1 and 2), which nothing reads now'
if ! carotate_absent /etc/kubernetes/pki/front-proxy-ca-new.key; then
  rm -f /etc/kubernetes/pki/front-proxy-ca-new.key
  carotate_absent /etc/kubernetes/pki/front-proxy-ca-new.key || carotate_did_not_take
else carotate_already 'Remove front-proxy-ca-new.key (a transition file of steps 1 and 2), which nothing reads now'; fi

##############################################################################
# Step 3 from the workstation: The old front-proxy CA dropped:
# --requestheader-client-ca-file and extension-apiserver-authentication hold
# the new CA alone

# Publish kube-system/extension-apiserver-authentication afresh, without the
# old CA
#   kube-apiserver merges its --requestheader-client-ca-file into this
#   ConfigMap and never drops a CA it published, so the old CA stays there
#   (and aggregated API servers keep accepting a proxy client certificate from
#   the old CA) until the ConfigMap is deleted; each API server then writes it
#   again from its own flags, the new CA alone once every one has restarted
#   above
carotate_step 3 'from the workstation' 'Publish kube-system/extension-apiserver-authentication afresh, without the old CA'
kubectl -n kube-system delete configmap/extension-apiserver-authentication --ignore-not-found && kubectl -n kube-system wait --for=create configmap/extension-apiserver-authentication --timeout=300s

carotate_say 'done: target front-proxy-ca --phase finish on cp-1 and the workstation'
