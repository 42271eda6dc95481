#!/usr/bin/env bash
# kubectl carotate instructions -o script --target sa-key --phase sign
# (rotation 20261202-5a4e7e): the steps of node cp-1 and the workstation.
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
carotate_content() { # FILE SHA256: the file holds exactly what the step wrote
  if [[ ! -f $1 ]]; then
    carotate_why="$1 does not exist"
    return 1
  fi
  if [[ $(sha256sum <"$1" | cut -d' ' -f1) != "$2" ]]; then
    carotate_why="$1 does not hold what the step writes"
    return 1
  fi
}

# The rotation, and what every step needs before the first one runs.
carotate_rotation=20261202-5a4e7e
: "${CAROTATE_TIMEOUT:=300}"
carotate_on_node cp-1
carotate_need crictl curl kubectl openssl


##############################################################################
# Step 2 on cp-1: kube-apiserver (--service-account-signing-key-file) and
# kube-controller-manager (--service-account-private-key-file) sign with the
# new private key

# Back up /etc/kubernetes/manifests/kube-apiserver.yaml
carotate_step 2 'on cp-1' 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'
if ! carotate_backed_up /var/backups/carotate-20261202-5a4e7e/step-2 /etc/kubernetes/manifests/kube-apiserver.yaml; then
  mkdir -p /var/backups/carotate-20261202-5a4e7e/step-2 && (cd / && cp -a --parents /etc/kubernetes/manifests/kube-apiserver.yaml /var/backups/carotate-20261202-5a4e7e/step-2/)
  carotate_backed_up /var/backups/carotate-20261202-5a4e7e/step-2 /etc/kubernetes/manifests/kube-apiserver.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'; fi

# kube-apiserver:
# --service-account-signing-key-file=/etc/kubernetes/pki/sa-new.key (new
# ServiceAccount signing key)
carotate_step 2 'on cp-1' 'kube-apiserver: --service-account-signing-key-file=/etc/kubernetes/pki/sa-new.key (new ServiceAccount signing key)'
if ! carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --service-account-signing-key-file /etc/kubernetes/pki/sa-new.key; then
  sed -i -e 's|- --service-account-signing-key-file=.*|- --service-account-signing-key-file=/etc/kubernetes/pki/sa-new.key|' /etc/kubernetes/manifests/kube-apiserver.yaml
  carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --service-account-signing-key-file /etc/kubernetes/pki/sa-new.key || carotate_did_not_take
else carotate_already 'kube-apiserver: --service-account-signing-key-file=/etc/kubernetes/pki/sa-new.key (new ServiceAccount signing key)'; fi

# Wait for kube-apiserver to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running
carotate_step 2 'on cp-1' 'Wait for kube-apiserver to restart'
if ! carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /etc/kubernetes/pki/sa-new.key /etc/kubernetes/manifests/kube-apiserver.yaml; then
  crictl ps --name '^kube-apiserver$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-apiserver to run again and answer https://127.0.0.1:6443/readyz' carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /etc/kubernetes/pki/sa-new.key /etc/kubernetes/manifests/kube-apiserver.yaml
else carotate_already 'kube-apiserver runs, started after the changes above'; fi

# Back up /etc/kubernetes/manifests/kube-controller-manager.yaml
carotate_step 2 'on cp-1' 'Back up /etc/kubernetes/manifests/kube-controller-manager.yaml'
if ! carotate_backed_up /var/backups/carotate-20261202-5a4e7e/step-2 /etc/kubernetes/manifests/kube-controller-manager.yaml; then
  mkdir -p /var/backups/carotate-20261202-5a4e7e/step-2 && (cd / && cp -a --parents /etc/kubernetes/manifests/kube-controller-manager.yaml /var/backups/carotate-20261202-5a4e7e/step-2/)
  carotate_backed_up /var/backups/carotate-20261202-5a4e7e/step-2 /etc/kubernetes/manifests/kube-controller-manager.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/kube-controller-manager.yaml'; fi

# kube-controller-manager:
# --service-account-private-key-file=/etc/kubernetes/pki/sa-new.key (new
# ServiceAccount signing key)
#   the controller-manager's tokens controller signs legacy token Secrets with
#   this key
carotate_step 2 'on cp-1' 'kube-controller-manager: --service-account-private-key-file=/etc/kubernetes/pki/sa-new.key (new ServiceAccount signing key)'
if ! carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --service-account-private-key-file /etc/kubernetes/pki/sa-new.key; then
  sed -i -e 's|- --service-account-private-key-file=.*|- --service-account-private-key-file=/etc/kubernetes/pki/sa-new.key|' /etc/kubernetes/manifests/kube-controller-manager.yaml
  carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --service-account-private-key-file /etc/kubernetes/pki/sa-new.key || carotate_did_not_take
else carotate_already 'kube-controller-manager: --service-account-private-key-file=/etc/kubernetes/pki/sa-new.key (new ServiceAccount signing key)'; fi

# Wait for kube-controller-manager to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running
carotate_step 2 'on cp-1' 'Wait for kube-controller-manager to restart'
if ! carotate_static_pod kube-controller-manager https://127.0.0.1:10257/healthz /etc/kubernetes/pki/sa-new.key /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/manifests/kube-controller-manager.yaml; then
  crictl ps --name '^kube-controller-manager$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-controller-manager to run again and answer https://127.0.0.1:10257/healthz' carotate_static_pod kube-controller-manager https://127.0.0.1:10257/healthz /etc/kubernetes/pki/sa-new.key /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/manifests/kube-controller-manager.yaml
else carotate_already 'kube-controller-manager runs, started after the changes above'; fi

##############################################################################
# Step 3.1 from the workstation: Legacy token Secrets re-signed with the new
# key (data.token cleared for the tokens controller to fill again)

# Re-sign every legacy token Secret that the old key signed: clear its
# data.token for the tokens controller to fill again
carotate_step 3.1 'from the workstation' 'Re-sign every legacy token Secret that the old key signed: clear its data.token for the tokens controller to fill again'
kubectl carotate resign-tokens

##############################################################################
# Step 3.2 from the workstation: Pods' projected tokens from the new key: pods
# restarted, or their token lifetime passed since the switch

# Restart the pods whose projected tokens the old key signed (or wait their
# token lifetime: status says until when)
carotate_step 3.2 'from the workstation' 'Restart the pods whose projected tokens the old key signed (or wait their token lifetime: status says until when)'
kubectl carotate restart-workloads --value 20261202-5a4e7e/sign --wait

carotate_say 'done: target sa-key --phase sign on cp-1 and the workstation'
