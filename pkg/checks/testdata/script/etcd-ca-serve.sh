#!/usr/bin/env bash
# kubectl carotate instructions -o script --target etcd-ca --phase serve
# (rotation 20261203-e7cd01): the steps of node cp-1.
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
carotate_rotation=20261203-e7cd01
: "${CAROTATE_TIMEOUT:=300}"
: "${NEW_ETCD_CA_KEY:=./new-etcd-ca.key}"
carotate_on_node cp-1
carotate_need crictl curl kubectl openssl
carotate_key_given NEW_ETCD_CA_KEY "${NEW_ETCD_CA_KEY}" 43fbcf8f4127d07606855e6335bfd9096bd253858ca1c1452d4e5bc468703bd8 'the new etcd CA'


##############################################################################
# Step 2 on cp-1: etcd's server, peer and healthcheck-client certificates and
# kube-apiserver's apiserver-etcd-client issued by the new etcd CA; etcd
# restarted, then the API server

# Back up /etc/kubernetes/manifests/etcd.yaml
carotate_step 2 'on cp-1' 'Back up /etc/kubernetes/manifests/etcd.yaml'
if ! carotate_backed_up /var/backups/carotate-20261203-e7cd01/step-2 /etc/kubernetes/manifests/etcd.yaml; then
  mkdir -p /var/backups/carotate-20261203-e7cd01/step-2 && (cd / && cp -a --parents /etc/kubernetes/manifests/etcd.yaml /var/backups/carotate-20261203-e7cd01/step-2/)
  carotate_backed_up /var/backups/carotate-20261203-e7cd01/step-2 /etc/kubernetes/manifests/etcd.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/etcd.yaml'; fi

# Back up /etc/kubernetes/manifests/kube-apiserver.yaml
carotate_step 2 'on cp-1' 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'
if ! carotate_backed_up /var/backups/carotate-20261203-e7cd01/step-2 /etc/kubernetes/manifests/kube-apiserver.yaml; then
  mkdir -p /var/backups/carotate-20261203-e7cd01/step-2 && (cd / && cp -a --parents /etc/kubernetes/manifests/kube-apiserver.yaml /var/backups/carotate-20261203-e7cd01/step-2/)
  carotate_backed_up /var/backups/carotate-20261203-e7cd01/step-2 /etc/kubernetes/manifests/kube-apiserver.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'; fi

# The new etcd CA's private key, beside ca.key
#   copy the key from where you generated it to this node first; kubectl
#   carotate never reads or stores private keys
carotate_step 2 'on cp-1' "The new etcd CA's private key, beside ca.key"
if ! carotate_key_file /etc/kubernetes/pki/etcd/ca-new.key 43fbcf8f4127d07606855e6335bfd9096bd253858ca1c1452d4e5bc468703bd8 "the new etcd CA's key"; then
  install -m 0600 "${NEW_ETCD_CA_KEY}" /etc/kubernetes/pki/etcd/ca-new.key
  carotate_key_file /etc/kubernetes/pki/etcd/ca-new.key 43fbcf8f4127d07606855e6335bfd9096bd253858ca1c1452d4e5bc468703bd8 "the new etcd CA's key" || carotate_did_not_take
else carotate_already "The new etcd CA's private key, beside ca.key"; fi

# Issue server-new.crt from the new etcd CA (same key, subject and extensions
# as server.crt)
#   needs OpenSSL 3 (-copy_extensions)
carotate_step 2 'on cp-1' 'Issue server-new.crt from the new etcd CA (same key, subject and extensions as server.crt)'
# shellcheck disable=SC2046 # the command substitution is meant to split into one word per line (ids) or is one word (hex digits)
if ! carotate_issued /etc/kubernetes/pki/etcd/server-new.crt /etc/kubernetes/pki/etcd/ca-new.crt /etc/kubernetes/pki/etcd/server.key; then
  openssl x509 -x509toreq -in /etc/kubernetes/pki/etcd/server.crt -signkey /etc/kubernetes/pki/etcd/server.key -copy_extensions copyall -out /etc/kubernetes/pki/etcd/server-new.crt.csr && openssl x509 -req -in /etc/kubernetes/pki/etcd/server-new.crt.csr -CA /etc/kubernetes/pki/etcd/ca-new.crt -CAkey /etc/kubernetes/pki/etcd/ca-new.key -set_serial 0x$(openssl rand -hex 16) -days 365 -copy_extensions copyall -out /etc/kubernetes/pki/etcd/server-new.crt && rm /etc/kubernetes/pki/etcd/server-new.crt.csr
  carotate_issued /etc/kubernetes/pki/etcd/server-new.crt /etc/kubernetes/pki/etcd/ca-new.crt /etc/kubernetes/pki/etcd/server.key || carotate_did_not_take
else carotate_already 'Issue server-new.crt from the new etcd CA (same key, subject and extensions as server.crt)'; fi

# Issue peer-new.crt from the new etcd CA (same key, subject and extensions as
# peer.crt)
#   needs OpenSSL 3 (-copy_extensions)
carotate_step 2 'on cp-1' 'Issue peer-new.crt from the new etcd CA (same key, subject and extensions as peer.crt)'
# shellcheck disable=SC2046 # the command substitution is meant to split into one word per line (ids) or is one word (hex digits)
if ! carotate_issued /etc/kubernetes/pki/etcd/peer-new.crt /etc/kubernetes/pki/etcd/ca-new.crt /etc/kubernetes/pki/etcd/peer.key; then
  openssl x509 -x509toreq -in /etc/kubernetes/pki/etcd/peer.crt -signkey /etc/kubernetes/pki/etcd/peer.key -copy_extensions copyall -out /etc/kubernetes/pki/etcd/peer-new.crt.csr && openssl x509 -req -in /etc/kubernetes/pki/etcd/peer-new.crt.csr -CA /etc/kubernetes/pki/etcd/ca-new.crt -CAkey /etc/kubernetes/pki/etcd/ca-new.key -set_serial 0x$(openssl rand -hex 16) -days 365 -copy_extensions copyall -out /etc/kubernetes/pki/etcd/peer-new.crt && rm /etc/kubernetes/pki/etcd/peer-new.crt.csr
  carotate_issued /etc/kubernetes/pki/etcd/peer-new.crt /etc/kubernetes/pki/etcd/ca-new.crt /etc/kubernetes/pki/etcd/peer.key || carotate_did_not_take
else carotate_already 'Issue peer-new.crt from the new etcd CA (same key, subject and extensions as peer.crt)'; fi

# Issue healthcheck-client-new.crt from the new etcd CA (same key, subject and
# extensions as healthcheck-client.crt)
# if /etc/kubernetes/pki/etcd/healthcheck-client.crt exists (kubeadm's etcd
# healthcheck client):
#   needs OpenSSL 3 (-copy_extensions)
# shellcheck disable=SC2046 # the command substitution is meant to split into one word per line (ids) or is one word (hex digits)
if test -f /etc/kubernetes/pki/etcd/healthcheck-client.crt; then
  carotate_step 2 'on cp-1' 'Issue healthcheck-client-new.crt from the new etcd CA (same key, subject and extensions as healthcheck-client.crt)'
  if ! carotate_issued /etc/kubernetes/pki/etcd/healthcheck-client-new.crt /etc/kubernetes/pki/etcd/ca-new.crt /etc/kubernetes/pki/etcd/healthcheck-client.key; then
    test ! -f /etc/kubernetes/pki/etcd/healthcheck-client.crt || { openssl x509 -x509toreq -in /etc/kubernetes/pki/etcd/healthcheck-client.crt -signkey /etc/kubernetes/pki/etcd/healthcheck-client.key -copy_extensions copyall -out /etc/kubernetes/pki/etcd/healthcheck-client-new.crt.csr && openssl x509 -req -in /etc/kubernetes/pki/etcd/healthcheck-client-new.crt.csr -CA /etc/kubernetes/pki/etcd/ca-new.crt -CAkey /etc/kubernetes/pki/etcd/ca-new.key -set_serial 0x$(openssl rand -hex 16) -days 365 -copy_extensions copyall -out /etc/kubernetes/pki/etcd/healthcheck-client-new.crt && rm /etc/kubernetes/pki/etcd/healthcheck-client-new.crt.csr; }
    carotate_issued /etc/kubernetes/pki/etcd/healthcheck-client-new.crt /etc/kubernetes/pki/etcd/ca-new.crt /etc/kubernetes/pki/etcd/healthcheck-client.key || carotate_did_not_take
  else carotate_already 'Issue healthcheck-client-new.crt from the new etcd CA (same key, subject and extensions as healthcheck-client.crt)'; fi
else carotate_say "step 2 on cp-1: skipped, it applies if /etc/kubernetes/pki/etcd/healthcheck-client.crt exists (kubeadm's etcd healthcheck client)"; fi

# etcd: --cert-file=/etc/kubernetes/pki/etcd/server-new.crt
carotate_step 2 'on cp-1' 'etcd: --cert-file=/etc/kubernetes/pki/etcd/server-new.crt'
if ! carotate_flag /etc/kubernetes/manifests/etcd.yaml --cert-file /etc/kubernetes/pki/etcd/server-new.crt; then
  sed -i -e 's|- --cert-file=.*|- --cert-file=/etc/kubernetes/pki/etcd/server-new.crt|' /etc/kubernetes/manifests/etcd.yaml
  carotate_flag /etc/kubernetes/manifests/etcd.yaml --cert-file /etc/kubernetes/pki/etcd/server-new.crt || carotate_did_not_take
else carotate_already 'etcd: --cert-file=/etc/kubernetes/pki/etcd/server-new.crt'; fi

# etcd: --peer-cert-file=/etc/kubernetes/pki/etcd/peer-new.crt
carotate_step 2 'on cp-1' 'etcd: --peer-cert-file=/etc/kubernetes/pki/etcd/peer-new.crt'
if ! carotate_flag /etc/kubernetes/manifests/etcd.yaml --peer-cert-file /etc/kubernetes/pki/etcd/peer-new.crt; then
  sed -i -e 's|- --peer-cert-file=.*|- --peer-cert-file=/etc/kubernetes/pki/etcd/peer-new.crt|' /etc/kubernetes/manifests/etcd.yaml
  carotate_flag /etc/kubernetes/manifests/etcd.yaml --peer-cert-file /etc/kubernetes/pki/etcd/peer-new.crt || carotate_did_not_take
else carotate_already 'etcd: --peer-cert-file=/etc/kubernetes/pki/etcd/peer-new.crt'; fi

# Wait for etcd to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running; the other members and the API
#   servers accept the new certificates: since step 1 they trust both etcd CAs
carotate_step 2 'on cp-1' 'Wait for etcd to restart'
if ! carotate_static_pod etcd http://127.0.0.1:2381/health /etc/kubernetes/pki/etcd/ca-new.key /etc/kubernetes/pki/etcd/server-new.crt /etc/kubernetes/pki/etcd/peer-new.crt /etc/kubernetes/pki/etcd/healthcheck-client-new.crt /etc/kubernetes/manifests/etcd.yaml; then
  crictl ps --name '^etcd$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'etcd to run again and answer http://127.0.0.1:2381/health' carotate_static_pod etcd http://127.0.0.1:2381/health /etc/kubernetes/pki/etcd/ca-new.key /etc/kubernetes/pki/etcd/server-new.crt /etc/kubernetes/pki/etcd/peer-new.crt /etc/kubernetes/pki/etcd/healthcheck-client-new.crt /etc/kubernetes/manifests/etcd.yaml
else carotate_already 'etcd runs, started after the changes above'; fi

# Issue apiserver-etcd-client-new.crt from the new etcd CA (same key, subject
# and extensions as apiserver-etcd-client.crt)
#   needs OpenSSL 3 (-copy_extensions)
carotate_step 2 'on cp-1' 'Issue apiserver-etcd-client-new.crt from the new etcd CA (same key, subject and extensions as apiserver-etcd-client.crt)'
# shellcheck disable=SC2046 # the command substitution is meant to split into one word per line (ids) or is one word (hex digits)
if ! carotate_issued /etc/kubernetes/pki/apiserver-etcd-client-new.crt /etc/kubernetes/pki/etcd/ca-new.crt /etc/kubernetes/pki/apiserver-etcd-client.key; then
  openssl x509 -x509toreq -in /etc/kubernetes/pki/apiserver-etcd-client.crt -signkey /etc/kubernetes/pki/apiserver-etcd-client.key -copy_extensions copyall -out /etc/kubernetes/pki/apiserver-etcd-client-new.crt.csr && openssl x509 -req -in /etc/kubernetes/pki/apiserver-etcd-client-new.crt.csr -CA /etc/kubernetes/pki/etcd/ca-new.crt -CAkey /etc/kubernetes/pki/etcd/ca-new.key -set_serial 0x$(openssl rand -hex 16) -days 365 -copy_extensions copyall -out /etc/kubernetes/pki/apiserver-etcd-client-new.crt && rm /etc/kubernetes/pki/apiserver-etcd-client-new.crt.csr
  carotate_issued /etc/kubernetes/pki/apiserver-etcd-client-new.crt /etc/kubernetes/pki/etcd/ca-new.crt /etc/kubernetes/pki/apiserver-etcd-client.key || carotate_did_not_take
else carotate_already 'Issue apiserver-etcd-client-new.crt from the new etcd CA (same key, subject and extensions as apiserver-etcd-client.crt)'; fi

# kube-apiserver:
# --etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client-new.crt
carotate_step 2 'on cp-1' 'kube-apiserver: --etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client-new.crt'
if ! carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --etcd-certfile /etc/kubernetes/pki/apiserver-etcd-client-new.crt; then
  sed -i -e 's|- --etcd-certfile=.*|- --etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client-new.crt|' /etc/kubernetes/manifests/kube-apiserver.yaml
  carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --etcd-certfile /etc/kubernetes/pki/apiserver-etcd-client-new.crt || carotate_did_not_take
else carotate_already 'kube-apiserver: --etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client-new.crt'; fi

# Wait for kube-apiserver to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running
carotate_step 2 'on cp-1' 'Wait for kube-apiserver to restart'
if ! carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /etc/kubernetes/pki/etcd/ca-new.key /etc/kubernetes/pki/etcd/server-new.crt /etc/kubernetes/pki/etcd/peer-new.crt /etc/kubernetes/pki/etcd/healthcheck-client-new.crt /etc/kubernetes/manifests/etcd.yaml /etc/kubernetes/pki/apiserver-etcd-client-new.crt /etc/kubernetes/manifests/kube-apiserver.yaml; then
  crictl ps --name '^kube-apiserver$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-apiserver to run again and answer https://127.0.0.1:6443/readyz' carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /etc/kubernetes/pki/etcd/ca-new.key /etc/kubernetes/pki/etcd/server-new.crt /etc/kubernetes/pki/etcd/peer-new.crt /etc/kubernetes/pki/etcd/healthcheck-client-new.crt /etc/kubernetes/manifests/etcd.yaml /etc/kubernetes/pki/apiserver-etcd-client-new.crt /etc/kubernetes/manifests/kube-apiserver.yaml
else carotate_already 'kube-apiserver runs, started after the changes above'; fi

# etcd answers /health with a serving certificate that verifies against
# ca-new.crt, for the client certificate healthcheck-client-new.crt
# if /etc/kubernetes/pki/etcd/healthcheck-client-new.crt exists (kubeadm's
# etcd healthcheck client):
#   a TLS or certificate error here means etcd does not serve or accept what
#   this step expects: stop and read it
if test -f /etc/kubernetes/pki/etcd/healthcheck-client-new.crt; then
  carotate_step 2 'on cp-1' 'etcd answers /health with a serving certificate that verifies against ca-new.crt, for the client certificate healthcheck-client-new.crt'
  curl -sS --fail --max-time 10 --cacert /etc/kubernetes/pki/etcd/ca-new.crt --cert /etc/kubernetes/pki/etcd/healthcheck-client-new.crt --key /etc/kubernetes/pki/etcd/healthcheck-client.key https://127.0.0.1:2379/health && echo
else carotate_say "step 2 on cp-1: skipped, it applies if /etc/kubernetes/pki/etcd/healthcheck-client-new.crt exists (kubeadm's etcd healthcheck client)"; fi

# kube-apiserver's etcd readiness check passes (/readyz, its [+]etcd line)
carotate_step 2 'on cp-1' "kube-apiserver's etcd readiness check passes (/readyz, its [+]etcd line)"
curl -sS --fail --max-time 10 -k 'https://127.0.0.1:6443/readyz?verbose' | grep -F '[+]etcd ok'

# Record on node cp-1's Node object that step 2's checks passed here: status
# judges the files by it, since the API cannot show them
#   with the kubelet's credentials, which may annotate only their own node
carotate_step 2 'on cp-1' "Record on node cp-1's Node object that step 2's checks passed here: status judges the files by it, since the API cannot show them"
kubectl --kubeconfig /etc/kubernetes/kubelet.conf annotate node cp-1 --overwrite "carotate.io/etcd-ca-step-2=20261203-e7cd01/$(date -u +%Y-%m-%dT%H:%M:%SZ)"

carotate_say 'done: target etcd-ca --phase serve on cp-1'
