#!/usr/bin/env bash
# kubectl carotate instructions -o script --target front-proxy-ca --phase
# serve (rotation 20261203-f00d01): the steps of node cp-1.
# Run it as root on cp-1.
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
: "${NEW_FRONT_PROXY_CA_KEY:=./new-front-proxy-ca.key}"
carotate_on_node cp-1
carotate_need crictl curl openssl
carotate_key_given NEW_FRONT_PROXY_CA_KEY "${NEW_FRONT_PROXY_CA_KEY}" 6801484a7ee7c86344e0237bc6b02e4602273dab6f90a0a07d2b2231e01e9146 'the new front-proxy CA'


##############################################################################
# Step 2 on cp-1: kube-apiserver's proxy client certificate
# (--proxy-client-cert-file) issued by the new front-proxy CA

# Back up /etc/kubernetes/manifests/kube-apiserver.yaml
carotate_step 2 'on cp-1' 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'
if ! carotate_backed_up /var/backups/carotate-20261203-f00d01/step-2 /etc/kubernetes/manifests/kube-apiserver.yaml; then
  mkdir -p /var/backups/carotate-20261203-f00d01/step-2 && (cd / && cp -a --parents /etc/kubernetes/manifests/kube-apiserver.yaml /var/backups/carotate-20261203-f00d01/step-2/)
  carotate_backed_up /var/backups/carotate-20261203-f00d01/step-2 /etc/kubernetes/manifests/kube-apiserver.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'; fi

# The new front-proxy CA's private key, beside front-proxy-ca.key
#   copy the key from where you generated it to this node first; kubectl
#   carotate never reads or stores private keys
carotate_step 2 'on cp-1' "The new front-proxy CA's private key, beside front-proxy-ca.key"
if ! carotate_key_file /etc/kubernetes/pki/front-proxy-ca-new.key 6801484a7ee7c86344e0237bc6b02e4602273dab6f90a0a07d2b2231e01e9146 "the new front-proxy CA's key"; then
  install -m 0600 "${NEW_FRONT_PROXY_CA_KEY}" /etc/kubernetes/pki/front-proxy-ca-new.key
  carotate_key_file /etc/kubernetes/pki/front-proxy-ca-new.key 6801484a7ee7c86344e0237bc6b02e4602273dab6f90a0a07d2b2231e01e9146 "the new front-proxy CA's key" || carotate_did_not_take
else carotate_already "The new front-proxy CA's private key, beside front-proxy-ca.key"; fi

# Issue front-proxy-client-new.crt from the new front-proxy CA (same key,
# subject and extensions as front-proxy-client.crt)
#   needs OpenSSL 3 (-copy_extensions)
carotate_step 2 'on cp-1' 'Issue front-proxy-client-new.crt from the new front-proxy CA (same key, subject and extensions as front-proxy-client.crt)'
# shellcheck disable=SC2046 # the command substitution is meant to split into one word per line (ids) or is one word (hex digits)
if ! carotate_issued /etc/kubernetes/pki/front-proxy-client-new.crt /etc/kubernetes/pki/front-proxy-ca-new.crt /etc/kubernetes/pki/front-proxy-client.key; then
  openssl x509 -x509toreq -in /etc/kubernetes/pki/front-proxy-client.crt -signkey /etc/kubernetes/pki/front-proxy-client.key -copy_extensions copyall -out /etc/kubernetes/pki/front-proxy-client-new.crt.csr && openssl x509 -req -in /etc/kubernetes/pki/front-proxy-client-new.crt.csr -CA /etc/kubernetes/pki/front-proxy-ca-new.crt -CAkey /etc/kubernetes/pki/front-proxy-ca-new.key -set_serial 0x$(openssl rand -hex 16) -days 365 -copy_extensions copyall -out /etc/kubernetes/pki/front-proxy-client-new.crt && rm /etc/kubernetes/pki/front-proxy-client-new.crt.csr
  carotate_issued /etc/kubernetes/pki/front-proxy-client-new.crt /etc/kubernetes/pki/front-proxy-ca-new.crt /etc/kubernetes/pki/front-proxy-client.key || carotate_did_not_take
else carotate_already 'Issue front-proxy-client-new.crt from the new front-proxy CA (same key, subject and extensions as front-proxy-client.crt)'; fi

# kube-apiserver:
# --proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client-new.crt
carotate_step 2 'on cp-1' 'kube-apiserver: --proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client-new.crt'
if ! carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --proxy-client-cert-file /etc/kubernetes/pki/front-proxy-client-new.crt; then
  sed -i -e 's|- --proxy-client-cert-file=.*|- --proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client-new.crt|' /etc/kubernetes/manifests/kube-apiserver.yaml
  carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --proxy-client-cert-file /etc/kubernetes/pki/front-proxy-client-new.crt || carotate_did_not_take
else carotate_already 'kube-apiserver: --proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client-new.crt'; fi

# Wait for kube-apiserver to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running; aggregated API servers accept the
#   new certificate: since step 1 extension-apiserver-authentication holds
#   both front-proxy CAs
carotate_step 2 'on cp-1' 'Wait for kube-apiserver to restart'
if ! carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /etc/kubernetes/pki/front-proxy-ca-new.key /etc/kubernetes/pki/front-proxy-client-new.crt /etc/kubernetes/manifests/kube-apiserver.yaml; then
  crictl ps --name '^kube-apiserver$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-apiserver to run again and answer https://127.0.0.1:6443/readyz' carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /etc/kubernetes/pki/front-proxy-ca-new.key /etc/kubernetes/pki/front-proxy-client-new.crt /etc/kubernetes/manifests/kube-apiserver.yaml
else carotate_already 'kube-apiserver runs, started after the changes above'; fi

carotate_say 'done: target front-proxy-ca --phase serve on cp-1'
