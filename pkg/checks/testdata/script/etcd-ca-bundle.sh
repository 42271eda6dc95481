#!/usr/bin/env bash
# kubectl carotate instructions -o script --target etcd-ca --phase bundle
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
carotate_on_node cp-1
carotate_need crictl curl kubectl openssl


##############################################################################
# Step 1 on cp-1: etcd (--trusted-ca-file, --peer-trusted-ca-file) and
# kube-apiserver (--etcd-cafile) trust the new etcd CA beside the old; etcd
# restarted, then the API server

# Back up /etc/kubernetes/manifests/etcd.yaml
carotate_step 1 'on cp-1' 'Back up /etc/kubernetes/manifests/etcd.yaml'
if ! carotate_backed_up /var/backups/carotate-20261203-e7cd01/step-1 /etc/kubernetes/manifests/etcd.yaml; then
  mkdir -p /var/backups/carotate-20261203-e7cd01/step-1 && (cd / && cp -a --parents /etc/kubernetes/manifests/etcd.yaml /var/backups/carotate-20261203-e7cd01/step-1/)
  carotate_backed_up /var/backups/carotate-20261203-e7cd01/step-1 /etc/kubernetes/manifests/etcd.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/etcd.yaml'; fi

# Back up /etc/kubernetes/manifests/kube-apiserver.yaml
carotate_step 1 'on cp-1' 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'
if ! carotate_backed_up /var/backups/carotate-20261203-e7cd01/step-1 /etc/kubernetes/manifests/kube-apiserver.yaml; then
  mkdir -p /var/backups/carotate-20261203-e7cd01/step-1 && (cd / && cp -a --parents /etc/kubernetes/manifests/kube-apiserver.yaml /var/backups/carotate-20261203-e7cd01/step-1/)
  carotate_backed_up /var/backups/carotate-20261203-e7cd01/step-1 /etc/kubernetes/manifests/kube-apiserver.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'; fi

# The new etcd CA alone, beside ca.crt
carotate_step 1 'on cp-1' 'The new etcd CA alone, beside ca.crt'
if ! carotate_certs /etc/kubernetes/pki/etcd/ca-new.crt e69659c016d74491acf64e5bdd7b0e7e2bc7c723c8905029d313a3b78b4dd917; then
  cat >/etc/kubernetes/pki/etcd/ca-new.crt <<'EOF'
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
  chmod 0644 /etc/kubernetes/pki/etcd/ca-new.crt
  carotate_certs /etc/kubernetes/pki/etcd/ca-new.crt e69659c016d74491acf64e5bdd7b0e7e2bc7c723c8905029d313a3b78b4dd917 || carotate_did_not_take
else carotate_already 'The new etcd CA alone, beside ca.crt'; fi

# The etcd CA bundle (new, then old), beside ca.crt (which stays as it is:
# etcd/ca.key beside it is what kubeadm signs with)
carotate_step 1 'on cp-1' 'The etcd CA bundle (new, then old), beside ca.crt (which stays as it is: etcd/ca.key beside it is what kubeadm signs with)'
if ! carotate_certs /etc/kubernetes/pki/etcd/ca-bundle.crt e69659c016d74491acf64e5bdd7b0e7e2bc7c723c8905029d313a3b78b4dd917 271b2f25e8cc2b2375917a625dbe0e7fd41de9ae7dfd7b9c3e11f0bf1b94d727; then
  cat >/etc/kubernetes/pki/etcd/ca-bundle.crt <<'EOF'
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
-----BEGIN CERTIFICATE-----
MIIBlDCCATmgAwIBAgIUF2A4SiwSHg5vqLAXUAml9vDkX80wCgYIKoZIzj0EAwIw
FjEUMBIGA1UEAwwLb2xkLWV0Y2QtY2EwIBcNMjYxMjAzMDYyMDA5WhgPMjEyNjEx
MDkwNjIwMDlaMBYxFDASBgNVBAMMC29sZC1ldGNkLWNhMFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAEt2VfQ8whAwwe3bjXU1muRKIY2+4vObpOuk885PTSHatVIc5c
/S54l+T0zcAqwI/vkeKoyZmB9A6bya0Oc6qQkKNjMGEwHQYDVR0OBBYEFKODAoZk
zNNBksoNwsvKUZ+YVXgpMB8GA1UdIwQYMBaAFKODAoZkzNNBksoNwsvKUZ+YVXgp
MA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgGGMAoGCCqGSM49BAMCA0kA
MEYCIQDPMWj8tiqd0sKD6FDLFYQnTahGlqMSdJVQQd/nnE+yqgIhAOy4BIS4IfLG
0zVyTwIGqGrt+QpqQ4Vhll+vP6TLnJ4V
-----END CERTIFICATE-----
EOF
  chmod 0644 /etc/kubernetes/pki/etcd/ca-bundle.crt
  carotate_certs /etc/kubernetes/pki/etcd/ca-bundle.crt e69659c016d74491acf64e5bdd7b0e7e2bc7c723c8905029d313a3b78b4dd917 271b2f25e8cc2b2375917a625dbe0e7fd41de9ae7dfd7b9c3e11f0bf1b94d727 || carotate_did_not_take
else carotate_already 'The etcd CA bundle (new, then old), beside ca.crt (which stays as it is: etcd/ca.key beside it is what kubeadm signs with)'; fi

# etcd: --trusted-ca-file=/etc/kubernetes/pki/etcd/ca-bundle.crt (etcd CA
# bundle: new, then old)
carotate_step 1 'on cp-1' 'etcd: --trusted-ca-file=/etc/kubernetes/pki/etcd/ca-bundle.crt (etcd CA bundle: new, then old)'
if ! carotate_flag /etc/kubernetes/manifests/etcd.yaml --trusted-ca-file /etc/kubernetes/pki/etcd/ca-bundle.crt; then
  sed -i -e 's|- --trusted-ca-file=.*|- --trusted-ca-file=/etc/kubernetes/pki/etcd/ca-bundle.crt|' /etc/kubernetes/manifests/etcd.yaml
  carotate_flag /etc/kubernetes/manifests/etcd.yaml --trusted-ca-file /etc/kubernetes/pki/etcd/ca-bundle.crt || carotate_did_not_take
else carotate_already 'etcd: --trusted-ca-file=/etc/kubernetes/pki/etcd/ca-bundle.crt (etcd CA bundle: new, then old)'; fi

# etcd: --peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca-bundle.crt (etcd CA
# bundle: new, then old)
carotate_step 1 'on cp-1' 'etcd: --peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca-bundle.crt (etcd CA bundle: new, then old)'
if ! carotate_flag /etc/kubernetes/manifests/etcd.yaml --peer-trusted-ca-file /etc/kubernetes/pki/etcd/ca-bundle.crt; then
  sed -i -e 's|- --peer-trusted-ca-file=.*|- --peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca-bundle.crt|' /etc/kubernetes/manifests/etcd.yaml
  carotate_flag /etc/kubernetes/manifests/etcd.yaml --peer-trusted-ca-file /etc/kubernetes/pki/etcd/ca-bundle.crt || carotate_did_not_take
else carotate_already 'etcd: --peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca-bundle.crt (etcd CA bundle: new, then old)'; fi

# Wait for etcd to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running; with several etcd members do one
#   node at a time: the others keep quorum while this one restarts
carotate_step 1 'on cp-1' 'Wait for etcd to restart'
if ! carotate_static_pod etcd http://127.0.0.1:2381/health /etc/kubernetes/pki/etcd/ca-new.crt /etc/kubernetes/pki/etcd/ca-bundle.crt /etc/kubernetes/manifests/etcd.yaml; then
  crictl ps --name '^etcd$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'etcd to run again and answer http://127.0.0.1:2381/health' carotate_static_pod etcd http://127.0.0.1:2381/health /etc/kubernetes/pki/etcd/ca-new.crt /etc/kubernetes/pki/etcd/ca-bundle.crt /etc/kubernetes/manifests/etcd.yaml
else carotate_already 'etcd runs, started after the changes above'; fi

# kube-apiserver: --etcd-cafile=/etc/kubernetes/pki/etcd/ca-bundle.crt (etcd
# CA bundle: new, then old)
carotate_step 1 'on cp-1' 'kube-apiserver: --etcd-cafile=/etc/kubernetes/pki/etcd/ca-bundle.crt (etcd CA bundle: new, then old)'
if ! carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --etcd-cafile /etc/kubernetes/pki/etcd/ca-bundle.crt; then
  sed -i -e 's|- --etcd-cafile=.*|- --etcd-cafile=/etc/kubernetes/pki/etcd/ca-bundle.crt|' /etc/kubernetes/manifests/kube-apiserver.yaml
  carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --etcd-cafile /etc/kubernetes/pki/etcd/ca-bundle.crt || carotate_did_not_take
else carotate_already 'kube-apiserver: --etcd-cafile=/etc/kubernetes/pki/etcd/ca-bundle.crt (etcd CA bundle: new, then old)'; fi

# Wait for kube-apiserver to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running
carotate_step 1 'on cp-1' 'Wait for kube-apiserver to restart'
if ! carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /etc/kubernetes/pki/etcd/ca-new.crt /etc/kubernetes/pki/etcd/ca-bundle.crt /etc/kubernetes/manifests/etcd.yaml /etc/kubernetes/manifests/kube-apiserver.yaml; then
  crictl ps --name '^kube-apiserver$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-apiserver to run again and answer https://127.0.0.1:6443/readyz' carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /etc/kubernetes/pki/etcd/ca-new.crt /etc/kubernetes/pki/etcd/ca-bundle.crt /etc/kubernetes/manifests/etcd.yaml /etc/kubernetes/manifests/kube-apiserver.yaml
else carotate_already 'kube-apiserver runs, started after the changes above'; fi

# etcd answers /health with a serving certificate that verifies against
# ca-bundle.crt, for the client certificate healthcheck-client.crt
# if /etc/kubernetes/pki/etcd/healthcheck-client.crt exists (kubeadm's etcd
# healthcheck client):
#   a TLS or certificate error here means etcd does not serve or accept what
#   this step expects: stop and read it
if test -f /etc/kubernetes/pki/etcd/healthcheck-client.crt; then
  carotate_step 1 'on cp-1' 'etcd answers /health with a serving certificate that verifies against ca-bundle.crt, for the client certificate healthcheck-client.crt'
  curl -sS --fail --max-time 10 --cacert /etc/kubernetes/pki/etcd/ca-bundle.crt --cert /etc/kubernetes/pki/etcd/healthcheck-client.crt --key /etc/kubernetes/pki/etcd/healthcheck-client.key https://127.0.0.1:2379/health && echo
else carotate_say "step 1 on cp-1: skipped, it applies if /etc/kubernetes/pki/etcd/healthcheck-client.crt exists (kubeadm's etcd healthcheck client)"; fi

# kube-apiserver's etcd readiness check passes (/readyz, its [+]etcd line)
carotate_step 1 'on cp-1' "kube-apiserver's etcd readiness check passes (/readyz, its [+]etcd line)"
curl -sS --fail --max-time 10 -k 'https://127.0.0.1:6443/readyz?verbose' | grep -F '[+]etcd ok'

# Record on node cp-1's Node object that step 1's checks passed here: status
# judges the files by it, since the API cannot show them
#   with the kubelet's credentials, which may annotate only their own node
carotate_step 1 'on cp-1' "Record on node cp-1's Node object that step 1's checks passed here: status judges the files by it, since the API cannot show them"
kubectl --kubeconfig /etc/kubernetes/kubelet.conf annotate node cp-1 --overwrite "carotate.io/etcd-ca-step-1=20261203-e7cd01/$(date -u +%Y-%m-%dT%H:%M:%SZ)"

carotate_say 'done: target etcd-ca --phase bundle on cp-1'
