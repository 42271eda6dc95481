#!/usr/bin/env bash
# kubectl carotate instructions -o script --target etcd-ca --phase finish
# (rotation 20261203-e7cd01): the steps of node cp-1 and the workstation.
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
carotate_rotation=20261203-e7cd01
: "${CAROTATE_TIMEOUT:=300}"
carotate_on_node cp-1
carotate_need crictl curl kubectl openssl


##############################################################################
# Step 3 from the workstation: The old etcd CA dropped from every trust file;
# the new CA and its key under kubeadm's names (etcd/ca.crt, etcd/ca.key);
# restarts

# Check that every etcd member and API server runs with certificates from the
# new etcd CA, before the old CA goes
carotate_step 3 'from the workstation' 'Check that every etcd member and API server runs with certificates from the new etcd CA, before the old CA goes'
kubectl carotate verify --target etcd-ca

##############################################################################
# Step 3 on cp-1: The old etcd CA dropped from every trust file; the new CA
# and its key under kubeadm's names (etcd/ca.crt, etcd/ca.key); restarts

# Back up /etc/kubernetes/pki/etcd/ca.crt
carotate_step 3 'on cp-1' 'Back up /etc/kubernetes/pki/etcd/ca.crt'
if ! carotate_backed_up /var/backups/carotate-20261203-e7cd01/step-3 /etc/kubernetes/pki/etcd/ca.crt; then
  mkdir -p /var/backups/carotate-20261203-e7cd01/step-3 && (cd / && cp -a --parents /etc/kubernetes/pki/etcd/ca.crt /var/backups/carotate-20261203-e7cd01/step-3/)
  carotate_backed_up /var/backups/carotate-20261203-e7cd01/step-3 /etc/kubernetes/pki/etcd/ca.crt || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/pki/etcd/ca.crt'; fi

# Back up /etc/kubernetes/pki/etcd/ca.key
carotate_step 3 'on cp-1' 'Back up /etc/kubernetes/pki/etcd/ca.key'
if ! carotate_backed_up /var/backups/carotate-20261203-e7cd01/step-3 /etc/kubernetes/pki/etcd/ca.key; then
  mkdir -p /var/backups/carotate-20261203-e7cd01/step-3 && (cd / && cp -a --parents /etc/kubernetes/pki/etcd/ca.key /var/backups/carotate-20261203-e7cd01/step-3/)
  carotate_backed_up /var/backups/carotate-20261203-e7cd01/step-3 /etc/kubernetes/pki/etcd/ca.key || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/pki/etcd/ca.key'; fi

# Back up /etc/kubernetes/manifests/etcd.yaml
carotate_step 3 'on cp-1' 'Back up /etc/kubernetes/manifests/etcd.yaml'
if ! carotate_backed_up /var/backups/carotate-20261203-e7cd01/step-3 /etc/kubernetes/manifests/etcd.yaml; then
  mkdir -p /var/backups/carotate-20261203-e7cd01/step-3 && (cd / && cp -a --parents /etc/kubernetes/manifests/etcd.yaml /var/backups/carotate-20261203-e7cd01/step-3/)
  carotate_backed_up /var/backups/carotate-20261203-e7cd01/step-3 /etc/kubernetes/manifests/etcd.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/etcd.yaml'; fi

# Back up /etc/kubernetes/manifests/kube-apiserver.yaml
carotate_step 3 'on cp-1' 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'
if ! carotate_backed_up /var/backups/carotate-20261203-e7cd01/step-3 /etc/kubernetes/manifests/kube-apiserver.yaml; then
  mkdir -p /var/backups/carotate-20261203-e7cd01/step-3 && (cd / && cp -a --parents /etc/kubernetes/manifests/kube-apiserver.yaml /var/backups/carotate-20261203-e7cd01/step-3/)
  carotate_backed_up /var/backups/carotate-20261203-e7cd01/step-3 /etc/kubernetes/manifests/kube-apiserver.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'; fi

# The new etcd CA alone, into the original ca.crt, which nothing reads now
carotate_step 3 'on cp-1' 'The new etcd CA alone, into the original ca.crt, which nothing reads now'
if ! carotate_certs /etc/kubernetes/pki/etcd/ca.crt e69659c016d74491acf64e5bdd7b0e7e2bc7c723c8905029d313a3b78b4dd917; then
  cat >/etc/kubernetes/pki/etcd/ca.crt <<'EOF'
-----BEGIN CERTIFICATE-----
MIIBkjCCATmgAwIBAgIUJctFXls7xg1i55KIVVjgKWS5b0QwCgYIKoZIzj0EAwIw
FjEUMBIGA1UEAwwLbmV3LWV0Y2QtY2EwIBcNMjYxMjAzMDYyMDA5WhgPMjEyNjEx
MDkwNjIwMDlaMBYxFDASBgNVBAMMC25ldy1ldGNkLWNhMFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAEvw1bkrV4Bo1rcKd9XS7UgRB3Dx3AZhNwua2tdRl/Cbkl7/YU
EHBVm+jGj/paYx6r5HlQ0DF849J7RutXF4DcyaNjMGEwHQYDVR0OBBYEFCBgdrbn
msWn0fRH6lIc9Qqo5DnSMB8GA1UdIwQYMBaAFCBgdrbnmsWn0fRH6lIc9Qqo5DnS
MA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgGGMAoGCCqGSM49BAMCA0cA
MEQCIBrccC72fgMwJHUB0rwsonOydGmKOZVt1z942BHoFiZnAiB2IrI4P4ZAfv+0
+axLnKCaibZeqA5GR9Je1fdkAIM5xw==
-----END CERTIFICATE-----
EOF
  chmod 0644 /etc/kubernetes/pki/etcd/ca.crt
  carotate_certs /etc/kubernetes/pki/etcd/ca.crt e69659c016d74491acf64e5bdd7b0e7e2bc7c723c8905029d313a3b78b4dd917 || carotate_did_not_take
else carotate_already 'The new etcd CA alone, into the original ca.crt, which nothing reads now'; fi

# Copy ca-new.key (step 2's new CA key) over ca.key, the key kubeadm signs
# etcd certificates with
carotate_step 3 'on cp-1' "Copy ca-new.key (step 2's new CA key) over ca.key, the key kubeadm signs etcd certificates with"
if ! carotate_key_file /etc/kubernetes/pki/etcd/ca.key 43fbcf8f4127d07606855e6335bfd9096bd253858ca1c1452d4e5bc468703bd8 "the new etcd CA's key"; then
  install -m 0600 /etc/kubernetes/pki/etcd/ca-new.key /etc/kubernetes/pki/etcd/ca.key
  carotate_key_file /etc/kubernetes/pki/etcd/ca.key 43fbcf8f4127d07606855e6335bfd9096bd253858ca1c1452d4e5bc468703bd8 "the new etcd CA's key" || carotate_did_not_take
else carotate_already "Copy ca-new.key (step 2's new CA key) over ca.key, the key kubeadm signs etcd certificates with"; fi

# Back up /etc/kubernetes/pki/etcd/server.crt
carotate_step 3 'on cp-1' 'Back up /etc/kubernetes/pki/etcd/server.crt'
if ! carotate_backed_up /var/backups/carotate-20261203-e7cd01/step-3 /etc/kubernetes/pki/etcd/server.crt; then
  mkdir -p /var/backups/carotate-20261203-e7cd01/step-3 && (cd / && cp -a --parents /etc/kubernetes/pki/etcd/server.crt /var/backups/carotate-20261203-e7cd01/step-3/)
  carotate_backed_up /var/backups/carotate-20261203-e7cd01/step-3 /etc/kubernetes/pki/etcd/server.crt || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/pki/etcd/server.crt'; fi

# Copy server-new.crt (step 2) over server.crt, which nothing reads now
carotate_step 3 'on cp-1' 'Copy server-new.crt (step 2) over server.crt, which nothing reads now'
if ! carotate_same /etc/kubernetes/pki/etcd/server-new.crt /etc/kubernetes/pki/etcd/server.crt; then
  cp /etc/kubernetes/pki/etcd/server-new.crt /etc/kubernetes/pki/etcd/server.crt
  carotate_same /etc/kubernetes/pki/etcd/server-new.crt /etc/kubernetes/pki/etcd/server.crt || carotate_did_not_take
else carotate_already 'Copy server-new.crt (step 2) over server.crt, which nothing reads now'; fi

# Back up /etc/kubernetes/pki/etcd/peer.crt
carotate_step 3 'on cp-1' 'Back up /etc/kubernetes/pki/etcd/peer.crt'
if ! carotate_backed_up /var/backups/carotate-20261203-e7cd01/step-3 /etc/kubernetes/pki/etcd/peer.crt; then
  mkdir -p /var/backups/carotate-20261203-e7cd01/step-3 && (cd / && cp -a --parents /etc/kubernetes/pki/etcd/peer.crt /var/backups/carotate-20261203-e7cd01/step-3/)
  carotate_backed_up /var/backups/carotate-20261203-e7cd01/step-3 /etc/kubernetes/pki/etcd/peer.crt || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/pki/etcd/peer.crt'; fi

# Copy peer-new.crt (step 2) over peer.crt, which nothing reads now
carotate_step 3 'on cp-1' 'Copy peer-new.crt (step 2) over peer.crt, which nothing reads now'
if ! carotate_same /etc/kubernetes/pki/etcd/peer-new.crt /etc/kubernetes/pki/etcd/peer.crt; then
  cp /etc/kubernetes/pki/etcd/peer-new.crt /etc/kubernetes/pki/etcd/peer.crt
  carotate_same /etc/kubernetes/pki/etcd/peer-new.crt /etc/kubernetes/pki/etcd/peer.crt || carotate_did_not_take
else carotate_already 'Copy peer-new.crt (step 2) over peer.crt, which nothing reads now'; fi

# Back up /etc/kubernetes/pki/etcd/healthcheck-client.crt
# if /etc/kubernetes/pki/etcd/healthcheck-client.crt exists (kubeadm's etcd
# healthcheck client):
if test -e /etc/kubernetes/pki/etcd/healthcheck-client.crt; then
  carotate_step 3 'on cp-1' 'Back up /etc/kubernetes/pki/etcd/healthcheck-client.crt'
  if ! carotate_backed_up /var/backups/carotate-20261203-e7cd01/step-3 /etc/kubernetes/pki/etcd/healthcheck-client.crt; then
    test ! -e /etc/kubernetes/pki/etcd/healthcheck-client.crt || { mkdir -p /var/backups/carotate-20261203-e7cd01/step-3 && (cd / && cp -a --parents /etc/kubernetes/pki/etcd/healthcheck-client.crt /var/backups/carotate-20261203-e7cd01/step-3/); }
    carotate_backed_up /var/backups/carotate-20261203-e7cd01/step-3 /etc/kubernetes/pki/etcd/healthcheck-client.crt || carotate_did_not_take
  else carotate_already 'Back up /etc/kubernetes/pki/etcd/healthcheck-client.crt'; fi
else carotate_say "step 3 on cp-1: skipped, it applies if /etc/kubernetes/pki/etcd/healthcheck-client.crt exists (kubeadm's etcd healthcheck client)"; fi

# Copy healthcheck-client-new.crt (step 2) over healthcheck-client.crt, which
# nothing reads now
# if /etc/kubernetes/pki/etcd/healthcheck-client.crt exists (kubeadm's etcd
# healthcheck client):
if test -f /etc/kubernetes/pki/etcd/healthcheck-client.crt; then
  carotate_step 3 'on cp-1' 'Copy healthcheck-client-new.crt (step 2) over healthcheck-client.crt, which nothing reads now'
  if ! carotate_same /etc/kubernetes/pki/etcd/healthcheck-client-new.crt /etc/kubernetes/pki/etcd/healthcheck-client.crt; then
    test ! -f /etc/kubernetes/pki/etcd/healthcheck-client.crt || cp /etc/kubernetes/pki/etcd/healthcheck-client-new.crt /etc/kubernetes/pki/etcd/healthcheck-client.crt
    carotate_same /etc/kubernetes/pki/etcd/healthcheck-client-new.crt /etc/kubernetes/pki/etcd/healthcheck-client.crt || carotate_did_not_take
  else carotate_already 'Copy healthcheck-client-new.crt (step 2) over healthcheck-client.crt, which nothing reads now'; fi
else carotate_say "step 3 on cp-1: skipped, it applies if /etc/kubernetes/pki/etcd/healthcheck-client.crt exists (kubeadm's etcd healthcheck client)"; fi

# Back up /etc/kubernetes/pki/apiserver-etcd-client.crt
carotate_step 3 'on cp-1' 'Back up /etc/kubernetes/pki/apiserver-etcd-client.crt'
if ! carotate_backed_up /var/backups/carotate-20261203-e7cd01/step-3 /etc/kubernetes/pki/apiserver-etcd-client.crt; then
  mkdir -p /var/backups/carotate-20261203-e7cd01/step-3 && (cd / && cp -a --parents /etc/kubernetes/pki/apiserver-etcd-client.crt /var/backups/carotate-20261203-e7cd01/step-3/)
  carotate_backed_up /var/backups/carotate-20261203-e7cd01/step-3 /etc/kubernetes/pki/apiserver-etcd-client.crt || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/pki/apiserver-etcd-client.crt'; fi

# Copy apiserver-etcd-client-new.crt (step 2) over apiserver-etcd-client.crt,
# which nothing reads now
carotate_step 3 'on cp-1' 'Copy apiserver-etcd-client-new.crt (step 2) over apiserver-etcd-client.crt, which nothing reads now'
if ! carotate_same /etc/kubernetes/pki/apiserver-etcd-client-new.crt /etc/kubernetes/pki/apiserver-etcd-client.crt; then
  cp /etc/kubernetes/pki/apiserver-etcd-client-new.crt /etc/kubernetes/pki/apiserver-etcd-client.crt
  carotate_same /etc/kubernetes/pki/apiserver-etcd-client-new.crt /etc/kubernetes/pki/apiserver-etcd-client.crt || carotate_did_not_take
else carotate_already 'Copy apiserver-etcd-client-new.crt (step 2) over apiserver-etcd-client.crt, which nothing reads now'; fi

# etcd: --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt (new etcd CA)
carotate_step 3 'on cp-1' 'etcd: --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt (new etcd CA)'
if ! carotate_flag /etc/kubernetes/manifests/etcd.yaml --trusted-ca-file /etc/kubernetes/pki/etcd/ca.crt; then
  sed -i -e 's|- --trusted-ca-file=.*|- --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt|' /etc/kubernetes/manifests/etcd.yaml
  carotate_flag /etc/kubernetes/manifests/etcd.yaml --trusted-ca-file /etc/kubernetes/pki/etcd/ca.crt || carotate_did_not_take
else carotate_already 'etcd: --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt (new etcd CA)'; fi

# etcd: --peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt (new etcd CA)
carotate_step 3 'on cp-1' 'etcd: --peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt (new etcd CA)'
if ! carotate_flag /etc/kubernetes/manifests/etcd.yaml --peer-trusted-ca-file /etc/kubernetes/pki/etcd/ca.crt; then
  sed -i -e 's|- --peer-trusted-ca-file=.*|- --peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt|' /etc/kubernetes/manifests/etcd.yaml
  carotate_flag /etc/kubernetes/manifests/etcd.yaml --peer-trusted-ca-file /etc/kubernetes/pki/etcd/ca.crt || carotate_did_not_take
else carotate_already 'etcd: --peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt (new etcd CA)'; fi

# etcd: --cert-file=/etc/kubernetes/pki/etcd/server.crt
carotate_step 3 'on cp-1' 'etcd: --cert-file=/etc/kubernetes/pki/etcd/server.crt'
if ! carotate_flag /etc/kubernetes/manifests/etcd.yaml --cert-file /etc/kubernetes/pki/etcd/server.crt; then
  sed -i -e 's|- --cert-file=.*|- --cert-file=/etc/kubernetes/pki/etcd/server.crt|' /etc/kubernetes/manifests/etcd.yaml
  carotate_flag /etc/kubernetes/manifests/etcd.yaml --cert-file /etc/kubernetes/pki/etcd/server.crt || carotate_did_not_take
else carotate_already 'etcd: --cert-file=/etc/kubernetes/pki/etcd/server.crt'; fi

# etcd: --peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt
carotate_step 3 'on cp-1' 'etcd: --peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt'
if ! carotate_flag /etc/kubernetes/manifests/etcd.yaml --peer-cert-file /etc/kubernetes/pki/etcd/peer.crt; then
  sed -i -e 's|- --peer-cert-file=.*|- --peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt|' /etc/kubernetes/manifests/etcd.yaml
  carotate_flag /etc/kubernetes/manifests/etcd.yaml --peer-cert-file /etc/kubernetes/pki/etcd/peer.crt || carotate_did_not_take
else carotate_already 'etcd: --peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt'; fi

# Wait for etcd to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running; from now on this member refuses
#   peers and clients with certificates from the old etcd CA: step 2 must be
#   done on every node first
carotate_step 3 'on cp-1' 'Wait for etcd to restart'
if ! carotate_static_pod etcd http://127.0.0.1:2381/health /etc/kubernetes/pki/etcd/ca.crt /etc/kubernetes/pki/etcd/ca.key /etc/kubernetes/pki/etcd/server.crt /etc/kubernetes/pki/etcd/peer.crt /etc/kubernetes/pki/etcd/healthcheck-client.crt /etc/kubernetes/pki/apiserver-etcd-client.crt /etc/kubernetes/manifests/etcd.yaml; then
  crictl ps --name '^etcd$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'etcd to run again and answer http://127.0.0.1:2381/health' carotate_static_pod etcd http://127.0.0.1:2381/health /etc/kubernetes/pki/etcd/ca.crt /etc/kubernetes/pki/etcd/ca.key /etc/kubernetes/pki/etcd/server.crt /etc/kubernetes/pki/etcd/peer.crt /etc/kubernetes/pki/etcd/healthcheck-client.crt /etc/kubernetes/pki/apiserver-etcd-client.crt /etc/kubernetes/manifests/etcd.yaml
else carotate_already 'etcd runs, started after the changes above'; fi

# kube-apiserver: --etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt (new etcd CA)
carotate_step 3 'on cp-1' 'kube-apiserver: --etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt (new etcd CA)'
if ! carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --etcd-cafile /etc/kubernetes/pki/etcd/ca.crt; then
  sed -i -e 's|- --etcd-cafile=.*|- --etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt|' /etc/kubernetes/manifests/kube-apiserver.yaml
  carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --etcd-cafile /etc/kubernetes/pki/etcd/ca.crt || carotate_did_not_take
else carotate_already 'kube-apiserver: --etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt (new etcd CA)'; fi

# kube-apiserver:
# --etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt
carotate_step 3 'on cp-1' 'kube-apiserver: --etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt'
if ! carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --etcd-certfile /etc/kubernetes/pki/apiserver-etcd-client.crt; then
  sed -i -e 's|- --etcd-certfile=.*|- --etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt|' /etc/kubernetes/manifests/kube-apiserver.yaml
  carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --etcd-certfile /etc/kubernetes/pki/apiserver-etcd-client.crt || carotate_did_not_take
else carotate_already 'kube-apiserver: --etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt'; fi

# Wait for kube-apiserver to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running
carotate_step 3 'on cp-1' 'Wait for kube-apiserver to restart'
if ! carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /etc/kubernetes/pki/etcd/ca.crt /etc/kubernetes/pki/etcd/ca.key /etc/kubernetes/pki/etcd/server.crt /etc/kubernetes/pki/etcd/peer.crt /etc/kubernetes/pki/etcd/healthcheck-client.crt /etc/kubernetes/pki/apiserver-etcd-client.crt /etc/kubernetes/manifests/etcd.yaml /etc/kubernetes/manifests/kube-apiserver.yaml; then
  crictl ps --name '^kube-apiserver$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-apiserver to run again and answer https://127.0.0.1:6443/readyz' carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /etc/kubernetes/pki/etcd/ca.crt /etc/kubernetes/pki/etcd/ca.key /etc/kubernetes/pki/etcd/server.crt /etc/kubernetes/pki/etcd/peer.crt /etc/kubernetes/pki/etcd/healthcheck-client.crt /etc/kubernetes/pki/apiserver-etcd-client.crt /etc/kubernetes/manifests/etcd.yaml /etc/kubernetes/manifests/kube-apiserver.yaml
else carotate_already 'kube-apiserver runs, started after the changes above'; fi

# Remove ca-bundle.crt (a transition file of steps 1 and 2), which nothing
# reads now
carotate_step 3 'on cp-1' 'Remove ca-bundle.crt (a transition file of steps 1 and 2), which nothing reads now'
if ! carotate_absent /etc/kubernetes/pki/etcd/ca-bundle.crt; then
  rm -f /etc/kubernetes/pki/etcd/ca-bundle.crt
  carotate_absent /etc/kubernetes/pki/etcd/ca-bundle.crt || carotate_did_not_take
else carotate_already 'Remove ca-bundle.crt (a transition file of steps 1 and 2), which nothing reads now'; fi

# Remove ca-new.crt (a transition file of steps 1 and 2), which nothing reads
# now
carotate_step 3 'on cp-1' 'Remove ca-new.crt (a transition file of steps 1 and 2), which nothing reads now'
if ! carotate_absent /etc/kubernetes/pki/etcd/ca-new.crt; then
  rm -f /etc/kubernetes/pki/etcd/ca-new.crt
  carotate_absent /etc/kubernetes/pki/etcd/ca-new.crt || carotate_did_not_take
else carotate_already 'Remove ca-new.crt (a transition file of steps 1 and 2), which nothing reads now'; fi

# Remove ca-new.key (a transition file of steps 1 and 2), which nothing reads
# now
carotate_step 3 'on cp-1' 'Remove ca-new.key (a transition file of steps 1 and 2), which nothing reads now'
if ! carotate_absent /etc/kubernetes/pki/etcd/ca-new.key; then
  rm -f /etc/kubernetes/pki/etcd/ca-new.key
  carotate_absent /etc/kubernetes/pki/etcd/ca-new.key || carotate_did_not_take
else carotate_already 'Remove ca-new.key (a transition file of steps 1 and 2), which nothing reads now'; fi

# etcd answers /health with a serving certificate that verifies against
# ca.crt, for the client certificate healthcheck-client.crt
# if /etc/kubernetes/pki/etcd/healthcheck-client.crt exists (kubeadm's etcd
# healthcheck client):
#   a TLS or certificate error here means etcd does not serve or accept what
#   this step expects: stop and read it
if test -f /etc/kubernetes/pki/etcd/healthcheck-client.crt; then
  carotate_step 3 'on cp-1' 'etcd answers /health with a serving certificate that verifies against ca.crt, for the client certificate healthcheck-client.crt'
  curl -sS --fail --max-time 10 --cacert /etc/kubernetes/pki/etcd/ca.crt --cert /etc/kubernetes/pki/etcd/healthcheck-client.crt --key /etc/kubernetes/pki/etcd/healthcheck-client.key https://127.0.0.1:2379/health && echo
else carotate_say "step 3 on cp-1: skipped, it applies if /etc/kubernetes/pki/etcd/healthcheck-client.crt exists (kubeadm's etcd healthcheck client)"; fi

# kube-apiserver's etcd readiness check passes (/readyz, its [+]etcd line)
carotate_step 3 'on cp-1' "kube-apiserver's etcd readiness check passes (/readyz, its [+]etcd line)"
curl -sS --fail --max-time 10 -k 'https://127.0.0.1:6443/readyz?verbose' | grep -F '[+]etcd ok'

# Record on node cp-1's Node object that step 3's checks passed here: status
# judges the files by it, since the API cannot show them
#   with the kubelet's credentials, which may annotate only their own node
carotate_step 3 'on cp-1' "Record on node cp-1's Node object that step 3's checks passed here: status judges the files by it, since the API cannot show them"
kubectl --kubeconfig /etc/kubernetes/kubelet.conf annotate node cp-1 --overwrite "carotate.io/etcd-ca-step-3=20261203-e7cd01/$(date -u +%Y-%m-%dT%H:%M:%SZ)"

carotate_say 'done: target etcd-ca --phase finish on cp-1 and the workstation'
