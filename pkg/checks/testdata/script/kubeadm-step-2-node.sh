#!/usr/bin/env bash
# kubectl carotate instructions -o script --step 2 (rotation 20260101-abcdef):
# the steps of node cp-1.
# Run it as root on cp-1.
#
# Each step runs only if its check shows it is not done, and its check must
# pass after it: the script stops at the first step that did not take, saying
# why, and a re-run resumes there without doing anything twice. Waits poll
# every 2 s and give up after CAROTATE_TIMEOUT seconds (default 300).
# CAROTATE_SHOW=1 prints each command before it runs.
#
# Golden note: paths for kubeadm.
set -euo pipefail
set -o errtrace

# (the helpers of pkg/checks/scripthelpers.sh)

# The rotation, and what every step needs before the first one runs.
carotate_rotation=20260101-abcdef
: "${CAROTATE_TIMEOUT:=300}"
carotate_on_node cp-1
carotate_need crictl curl openssl


##############################################################################
# Step 2 on cp-1: Point kube-controller-manager's --root-ca-file at the bundle
# and restart it

# Back up /etc/kubernetes/manifests/kube-controller-manager.yaml
carotate_step 2 'on cp-1' 'Back up /etc/kubernetes/manifests/kube-controller-manager.yaml'
if ! carotate_backed_up /var/backups/carotate-20260101-abcdef/step-2 /etc/kubernetes/manifests/kube-controller-manager.yaml; then
  mkdir -p /var/backups/carotate-20260101-abcdef/step-2 && (cd / && cp -a --parents /etc/kubernetes/manifests/kube-controller-manager.yaml /var/backups/carotate-20260101-abcdef/step-2/)
  carotate_backed_up /var/backups/carotate-20260101-abcdef/step-2 /etc/kubernetes/manifests/kube-controller-manager.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/kube-controller-manager.yaml'; fi

# kube-controller-manager: --root-ca-file=/etc/kubernetes/pki/ca-bundle.crt
# (bundle: new CA, then old)
#   caveat: --root-ca-file shares /etc/kubernetes/pki/ca.crt with
#   --client-ca-file and --cluster-signing-cert-file. Those flags must hold
#   one CA, never the bundle (kubeadm issue 1350: "the PEM file should contain
#   only one object"), so they get the separate new-CA copy
#   /etc/kubernetes/pki/ca-new.crt; the finish phase (step 12.1) points them
#   back at /etc/kubernetes/pki/ca.crt once it holds the new CA alone
carotate_step 2 'on cp-1' 'kube-controller-manager: --root-ca-file=/etc/kubernetes/pki/ca-bundle.crt (bundle: new CA, then old)'
if ! carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --root-ca-file /etc/kubernetes/pki/ca-bundle.crt; then
  sed -i -e 's|- --root-ca-file=.*|- --root-ca-file=/etc/kubernetes/pki/ca-bundle.crt|' /etc/kubernetes/manifests/kube-controller-manager.yaml
  carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --root-ca-file /etc/kubernetes/pki/ca-bundle.crt || carotate_did_not_take
else carotate_already 'kube-controller-manager: --root-ca-file=/etc/kubernetes/pki/ca-bundle.crt (bundle: new CA, then old)'; fi

# kube-controller-manager: --client-ca-file=/etc/kubernetes/pki/ca-new.crt
# (new CA)
carotate_step 2 'on cp-1' 'kube-controller-manager: --client-ca-file=/etc/kubernetes/pki/ca-new.crt (new CA)'
if ! carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --client-ca-file /etc/kubernetes/pki/ca-new.crt; then
  sed -i -e 's|- --client-ca-file=.*|- --client-ca-file=/etc/kubernetes/pki/ca-new.crt|' /etc/kubernetes/manifests/kube-controller-manager.yaml
  carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --client-ca-file /etc/kubernetes/pki/ca-new.crt || carotate_did_not_take
else carotate_already 'kube-controller-manager: --client-ca-file=/etc/kubernetes/pki/ca-new.crt (new CA)'; fi

# kube-controller-manager:
# --cluster-signing-cert-file=/etc/kubernetes/pki/ca-new.crt (new CA)
carotate_step 2 'on cp-1' 'kube-controller-manager: --cluster-signing-cert-file=/etc/kubernetes/pki/ca-new.crt (new CA)'
if ! carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --cluster-signing-cert-file /etc/kubernetes/pki/ca-new.crt; then
  sed -i -e 's|- --cluster-signing-cert-file=.*|- --cluster-signing-cert-file=/etc/kubernetes/pki/ca-new.crt|' /etc/kubernetes/manifests/kube-controller-manager.yaml
  carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --cluster-signing-cert-file /etc/kubernetes/pki/ca-new.crt || carotate_did_not_take
else carotate_already 'kube-controller-manager: --cluster-signing-cert-file=/etc/kubernetes/pki/ca-new.crt (new CA)'; fi

# kube-controller-manager:
# --cluster-signing-key-file=/etc/kubernetes/pki/ca-new.key (new CA's key)
carotate_step 2 'on cp-1' "kube-controller-manager: --cluster-signing-key-file=/etc/kubernetes/pki/ca-new.key (new CA's key)"
if ! carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --cluster-signing-key-file /etc/kubernetes/pki/ca-new.key; then
  sed -i -e 's|- --cluster-signing-key-file=.*|- --cluster-signing-key-file=/etc/kubernetes/pki/ca-new.key|' /etc/kubernetes/manifests/kube-controller-manager.yaml
  carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --cluster-signing-key-file /etc/kubernetes/pki/ca-new.key || carotate_did_not_take
else carotate_already "kube-controller-manager: --cluster-signing-key-file=/etc/kubernetes/pki/ca-new.key (new CA's key)"; fi

# Wait for kube-controller-manager to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running; from now on the controller-manager
#   signs certificates (kubelet client certificates) with the new CA, which
#   the API server accepts only after step 5: do step 5 right after this one
carotate_step 2 'on cp-1' 'Wait for kube-controller-manager to restart'
if ! carotate_static_pod kube-controller-manager https://127.0.0.1:10257/healthz /etc/kubernetes/pki/ca-bundle.crt /etc/kubernetes/manifests/kube-controller-manager.yaml /etc/kubernetes/pki/ca-new.crt /etc/kubernetes/pki/ca-new.key; then
  crictl ps --name '^kube-controller-manager$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-controller-manager to run again and answer https://127.0.0.1:10257/healthz' carotate_static_pod kube-controller-manager https://127.0.0.1:10257/healthz /etc/kubernetes/pki/ca-bundle.crt /etc/kubernetes/manifests/kube-controller-manager.yaml /etc/kubernetes/pki/ca-new.crt /etc/kubernetes/pki/ca-new.key
else carotate_already 'kube-controller-manager runs, started after the changes above'; fi

carotate_say 'done: step 2 on cp-1'
