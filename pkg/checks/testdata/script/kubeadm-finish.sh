#!/usr/bin/env bash
# kubectl carotate instructions -o script --phase finish (rotation
# 20260101-abcdef): the steps of node cp-1 and the workstation.
# Run it as root on cp-1.
# The workstation steps (kubectl carotate commands) run here too, with your
# kubeconfig.
#
# Each step runs only if its check shows it is not done, and its check must
# pass after it: the script stops at the first step that did not take, saying
# why, and a re-run resumes there without doing anything twice. Waits poll
# every 2 s and give up after CAROTATE_TIMEOUT seconds (default 300).
# CAROTATE_SHOW=1 prints each command before it runs.
#
# Other nodes have steps here. This script waits for each at its turn
# (CAROTATE_NODE_TIMEOUT seconds, default 3600) until that node's own script
# records it done on its Node object. Print them with:
#   kubectl carotate instructions -o script --phase finish --node worker-a
#   kubectl carotate instructions -o script --phase finish --node worker-b
#
# Golden note: paths for kubeadm.
set -euo pipefail
set -o errtrace

# (the helpers of pkg/checks/scripthelpers.sh)

# The rotation, and what every step needs before the first one runs.
carotate_rotation=20260101-abcdef
: "${CAROTATE_TIMEOUT:=300}"
: "${CAROTATE_NODE_TIMEOUT:=3600}"
: "${NEW_CA_KEY:=./new-ca.key}"
carotate_on_node cp-1
carotate_need crictl curl kubectl openssl systemctl
carotate_key_given NEW_CA_KEY "${NEW_CA_KEY}" 2c6af979a6307b7c960ef08c4418a2b05d97c6e98507ef35b3eda93261a6cab5 'the new CA'
carotate_ca_file old-ca.crt a9ae0942a2c3379ce7f6e2fcae654d6fac08c2246ec12ab389e8e19a4f0ba0f1 <<'EOF'
-----BEGIN CERTIFICATE-----
MIIBkjCCATegAwIBAgIUZNVddex86QA9cTE/fcx+QKltn2QwCgYIKoZIzj0EAwIw
FTETMBEGA1UEAwwKa3ViZXJuZXRlczAgFw0yNjEyMDIxOTEyMTlaGA8yMTI2MTEw
ODE5MTIxOVowFTETMBEGA1UEAwwKa3ViZXJuZXRlczBZMBMGByqGSM49AgEGCCqG
SM49AwEHA0IABCRhfo+ySO8X2QJPha+ErSfgIjNBHfzOWdqVOKd4/kPn/XF4TVQ4
0T4XgqiFg0x1biSwZdwT3bQex5tiTgkTxkOjYzBhMB0GA1UdDgQWBBT2tPAp79up
rsQA2g2YDPlwWEAZ9zAfBgNVHSMEGDAWgBT2tPAp79uprsQA2g2YDPlwWEAZ9zAP
BgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIBBjAKBggqhkjOPQQDAgNJADBG
AiEA3MmNVpqs8H9RIpsXevS70ixvp6A0eO5ZSO8mi6Z/pUACIQCJUitvHWmnevV9
x9RhPZYtFhMR+o6omzV0hbr4PQs9Pg==
-----END CERTIFICATE-----
EOF
carotate_ca_file new-ca.crt 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c <<'EOF'
-----BEGIN CERTIFICATE-----
MIIBmTCCAT+gAwIBAgIUVvmMOvWr0I1RDekyp9mqSwfzfpMwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOa3ViZXJuZXRlcy1uZXcwIBcNMjYxMjAyMTkxMjE5WhgPMjEy
NjExMDgxOTEyMTlaMBkxFzAVBgNVBAMMDmt1YmVybmV0ZXMtbmV3MFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAE5T/LP9XDe/19wk1LPBBPElOdZyoSu9+Y5dopi6uj
L5l1nZyzk0F0ZM6ht0vC0cn0YskDSatjCFBxXxqaljW5zaNjMGEwHQYDVR0OBBYE
FO3g8ZLPU/Zxv0fNs087K4p1JdLCMB8GA1UdIwQYMBaAFO3g8ZLPU/Zxv0fNs087
K4p1JdLCMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgEGMAoGCCqGSM49
BAMCA0gAMEUCIBN5Or/ee7CMNL87Vi7JxcYsnaGrlR9QBRVghpmp+Lb+AiEA9GeE
Qpq04YUzKUZaKNIxf9KbsXsTW6sOc+UFfjmoFGg=
-----END CERTIFICATE-----
EOF
carotate_ca_file ca-bundle.crt 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c a9ae0942a2c3379ce7f6e2fcae654d6fac08c2246ec12ab389e8e19a4f0ba0f1 <<'EOF'
-----BEGIN CERTIFICATE-----
MIIBmTCCAT+gAwIBAgIUVvmMOvWr0I1RDekyp9mqSwfzfpMwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOa3ViZXJuZXRlcy1uZXcwIBcNMjYxMjAyMTkxMjE5WhgPMjEy
NjExMDgxOTEyMTlaMBkxFzAVBgNVBAMMDmt1YmVybmV0ZXMtbmV3MFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAE5T/LP9XDe/19wk1LPBBPElOdZyoSu9+Y5dopi6uj
L5l1nZyzk0F0ZM6ht0vC0cn0YskDSatjCFBxXxqaljW5zaNjMGEwHQYDVR0OBBYE
FO3g8ZLPU/Zxv0fNs087K4p1JdLCMB8GA1UdIwQYMBaAFO3g8ZLPU/Zxv0fNs087
K4p1JdLCMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgEGMAoGCCqGSM49
BAMCA0gAMEUCIBN5Or/ee7CMNL87Vi7JxcYsnaGrlR9QBRVghpmp+Lb+AiEA9GeE
Qpq04YUzKUZaKNIxf9KbsXsTW6sOc+UFfjmoFGg=
-----END CERTIFICATE-----
-----BEGIN CERTIFICATE-----
MIIBkjCCATegAwIBAgIUZNVddex86QA9cTE/fcx+QKltn2QwCgYIKoZIzj0EAwIw
FTETMBEGA1UEAwwKa3ViZXJuZXRlczAgFw0yNjEyMDIxOTEyMTlaGA8yMTI2MTEw
ODE5MTIxOVowFTETMBEGA1UEAwwKa3ViZXJuZXRlczBZMBMGByqGSM49AgEGCCqG
SM49AwEHA0IABCRhfo+ySO8X2QJPha+ErSfgIjNBHfzOWdqVOKd4/kPn/XF4TVQ4
0T4XgqiFg0x1biSwZdwT3bQex5tiTgkTxkOjYzBhMB0GA1UdDgQWBBT2tPAp79up
rsQA2g2YDPlwWEAZ9zAfBgNVHSMEGDAWgBT2tPAp79uprsQA2g2YDPlwWEAZ9zAP
BgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIBBjAKBggqhkjOPQQDAgNJADBG
AiEA3MmNVpqs8H9RIpsXevS70ixvp6A0eO5ZSO8mi6Z/pUACIQCJUitvHWmnevV9
x9RhPZYtFhMR+o6omzV0hbr4PQs9Pg==
-----END CERTIFICATE-----
EOF
carotate_say 'steps of node worker-a are in its own script: kubectl carotate instructions -o script --phase finish --node worker-a'
carotate_say 'steps of node worker-b are in its own script: kubectl carotate instructions -o script --phase finish --node worker-b'


##############################################################################
# Step 12.1 on cp-1: ServiceAccount root CA: the new CA alone; restart
# in-cluster clients

# Back up /etc/kubernetes/pki
carotate_step 12.1 'on cp-1' 'Back up /etc/kubernetes/pki'
if ! carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.1 /etc/kubernetes/pki; then
  mkdir -p /var/backups/carotate-20260101-abcdef/step-12.1 && (cd / && cp -a --parents /etc/kubernetes/pki /var/backups/carotate-20260101-abcdef/step-12.1/)
  carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.1 /etc/kubernetes/pki || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/pki'; fi

# The new CA alone, into the original ca.crt
carotate_step 12.1 'on cp-1' 'The new CA alone, into the original ca.crt'
if ! carotate_certs /etc/kubernetes/pki/ca.crt 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c; then
  cat >/etc/kubernetes/pki/ca.crt <<'EOF'
-----BEGIN CERTIFICATE-----
MIIBmTCCAT+gAwIBAgIUVvmMOvWr0I1RDekyp9mqSwfzfpMwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOa3ViZXJuZXRlcy1uZXcwIBcNMjYxMjAyMTkxMjE5WhgPMjEy
NjExMDgxOTEyMTlaMBkxFzAVBgNVBAMMDmt1YmVybmV0ZXMtbmV3MFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAE5T/LP9XDe/19wk1LPBBPElOdZyoSu9+Y5dopi6uj
L5l1nZyzk0F0ZM6ht0vC0cn0YskDSatjCFBxXxqaljW5zaNjMGEwHQYDVR0OBBYE
FO3g8ZLPU/Zxv0fNs087K4p1JdLCMB8GA1UdIwQYMBaAFO3g8ZLPU/Zxv0fNs087
K4p1JdLCMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgEGMAoGCCqGSM49
BAMCA0gAMEUCIBN5Or/ee7CMNL87Vi7JxcYsnaGrlR9QBRVghpmp+Lb+AiEA9GeE
Qpq04YUzKUZaKNIxf9KbsXsTW6sOc+UFfjmoFGg=
-----END CERTIFICATE-----
EOF
  chmod 0644 /etc/kubernetes/pki/ca.crt
  carotate_certs /etc/kubernetes/pki/ca.crt 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c || carotate_did_not_take
else carotate_already 'The new CA alone, into the original ca.crt'; fi

# The new CA's private key, into the original ca.key
#   copy the key from where you generated it to this node first; kubectl
#   carotate never reads or stores private keys
carotate_step 12.1 'on cp-1' "The new CA's private key, into the original ca.key"
if ! carotate_key_file /etc/kubernetes/pki/ca.key 2c6af979a6307b7c960ef08c4418a2b05d97c6e98507ef35b3eda93261a6cab5 "the new CA's key"; then
  install -m 0600 "${NEW_CA_KEY}" /etc/kubernetes/pki/ca.key
  carotate_key_file /etc/kubernetes/pki/ca.key 2c6af979a6307b7c960ef08c4418a2b05d97c6e98507ef35b3eda93261a6cab5 "the new CA's key" || carotate_did_not_take
else carotate_already "The new CA's private key, into the original ca.key"; fi

# Back up /etc/kubernetes/manifests/kube-controller-manager.yaml
carotate_step 12.1 'on cp-1' 'Back up /etc/kubernetes/manifests/kube-controller-manager.yaml'
if ! carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.1 /etc/kubernetes/manifests/kube-controller-manager.yaml; then
  mkdir -p /var/backups/carotate-20260101-abcdef/step-12.1 && (cd / && cp -a --parents /etc/kubernetes/manifests/kube-controller-manager.yaml /var/backups/carotate-20260101-abcdef/step-12.1/)
  carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.1 /etc/kubernetes/manifests/kube-controller-manager.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/kube-controller-manager.yaml'; fi

# kube-controller-manager: --root-ca-file=/etc/kubernetes/pki/ca.crt (new CA)
carotate_step 12.1 'on cp-1' 'kube-controller-manager: --root-ca-file=/etc/kubernetes/pki/ca.crt (new CA)'
if ! carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --root-ca-file /etc/kubernetes/pki/ca.crt; then
  sed -i -e 's|- --root-ca-file=.*|- --root-ca-file=/etc/kubernetes/pki/ca.crt|' /etc/kubernetes/manifests/kube-controller-manager.yaml
  carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --root-ca-file /etc/kubernetes/pki/ca.crt || carotate_did_not_take
else carotate_already 'kube-controller-manager: --root-ca-file=/etc/kubernetes/pki/ca.crt (new CA)'; fi

# kube-controller-manager: --client-ca-file=/etc/kubernetes/pki/ca.crt (new
# CA)
#   points back at the original file, which now holds the new CA alone
carotate_step 12.1 'on cp-1' 'kube-controller-manager: --client-ca-file=/etc/kubernetes/pki/ca.crt (new CA)'
if ! carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --client-ca-file /etc/kubernetes/pki/ca.crt; then
  sed -i -e 's|- --client-ca-file=.*|- --client-ca-file=/etc/kubernetes/pki/ca.crt|' /etc/kubernetes/manifests/kube-controller-manager.yaml
  carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --client-ca-file /etc/kubernetes/pki/ca.crt || carotate_did_not_take
else carotate_already 'kube-controller-manager: --client-ca-file=/etc/kubernetes/pki/ca.crt (new CA)'; fi

# kube-controller-manager:
# --cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt (new CA)
#   points back at the original file, which now holds the new CA alone
carotate_step 12.1 'on cp-1' 'kube-controller-manager: --cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt (new CA)'
if ! carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --cluster-signing-cert-file /etc/kubernetes/pki/ca.crt; then
  sed -i -e 's|- --cluster-signing-cert-file=.*|- --cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt|' /etc/kubernetes/manifests/kube-controller-manager.yaml
  carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --cluster-signing-cert-file /etc/kubernetes/pki/ca.crt || carotate_did_not_take
else carotate_already 'kube-controller-manager: --cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt (new CA)'; fi

# kube-controller-manager:
# --cluster-signing-key-file=/etc/kubernetes/pki/ca.key (new CA's key)
carotate_step 12.1 'on cp-1' "kube-controller-manager: --cluster-signing-key-file=/etc/kubernetes/pki/ca.key (new CA's key)"
if ! carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --cluster-signing-key-file /etc/kubernetes/pki/ca.key; then
  sed -i -e 's|- --cluster-signing-key-file=.*|- --cluster-signing-key-file=/etc/kubernetes/pki/ca.key|' /etc/kubernetes/manifests/kube-controller-manager.yaml
  carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --cluster-signing-key-file /etc/kubernetes/pki/ca.key || carotate_did_not_take
else carotate_already "kube-controller-manager: --cluster-signing-key-file=/etc/kubernetes/pki/ca.key (new CA's key)"; fi

# Wait for kube-controller-manager to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running
carotate_step 12.1 'on cp-1' 'Wait for kube-controller-manager to restart'
if ! carotate_static_pod kube-controller-manager https://127.0.0.1:10257/healthz /etc/kubernetes/pki/ca.crt /etc/kubernetes/pki/ca.key /etc/kubernetes/manifests/kube-controller-manager.yaml; then
  crictl ps --name '^kube-controller-manager$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-controller-manager to run again and answer https://127.0.0.1:10257/healthz' carotate_static_pod kube-controller-manager https://127.0.0.1:10257/healthz /etc/kubernetes/pki/ca.crt /etc/kubernetes/pki/ca.key /etc/kubernetes/manifests/kube-controller-manager.yaml
else carotate_already 'kube-controller-manager runs, started after the changes above'; fi
carotate_wait "${CAROTATE_TIMEOUT}" 'kube-controller-manager to publish its --root-ca-file (new CA) in kube-system/kube-root-ca.crt' carotate_published 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c

##############################################################################
# Step 12.1 from the workstation: ServiceAccount root CA: the new CA alone;
# restart in-cluster clients

# Leave only the new CA in every ServiceAccount root CA
carotate_step 12.1 'from the workstation' 'Leave only the new CA in every ServiceAccount root CA'
kubectl carotate unbundle --keep new-ca.crt

# Roll every workload so no pod keeps the old CA
carotate_step 12.1 'from the workstation' 'Roll every workload so no pod keeps the old CA'
kubectl carotate restart-workloads --value 20260101-abcdef/finish --wait

##############################################################################
# Step 12.2 on cp-1: Remove the old CA from kubeconfigs and control-plane
# files; restart the control plane

# Back up /etc/kubernetes/manifests/kube-apiserver.yaml
carotate_step 12.2 'on cp-1' 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'
if ! carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.2 /etc/kubernetes/manifests/kube-apiserver.yaml; then
  mkdir -p /var/backups/carotate-20260101-abcdef/step-12.2 && (cd / && cp -a --parents /etc/kubernetes/manifests/kube-apiserver.yaml /var/backups/carotate-20260101-abcdef/step-12.2/)
  carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.2 /etc/kubernetes/manifests/kube-apiserver.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'; fi

# Back up /etc/kubernetes/pki/apiserver.crt
carotate_step 12.2 'on cp-1' 'Back up /etc/kubernetes/pki/apiserver.crt'
if ! carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.2 /etc/kubernetes/pki/apiserver.crt; then
  mkdir -p /var/backups/carotate-20260101-abcdef/step-12.2 && (cd / && cp -a --parents /etc/kubernetes/pki/apiserver.crt /var/backups/carotate-20260101-abcdef/step-12.2/)
  carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.2 /etc/kubernetes/pki/apiserver.crt || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/pki/apiserver.crt'; fi

# Copy apiserver-new.crt (step 9.3) over apiserver.crt, which nothing reads
# now
carotate_step 12.2 'on cp-1' 'Copy apiserver-new.crt (step 9.3) over apiserver.crt, which nothing reads now'
if ! carotate_same /etc/kubernetes/pki/apiserver-new.crt /etc/kubernetes/pki/apiserver.crt; then
  cp /etc/kubernetes/pki/apiserver-new.crt /etc/kubernetes/pki/apiserver.crt
  carotate_same /etc/kubernetes/pki/apiserver-new.crt /etc/kubernetes/pki/apiserver.crt || carotate_did_not_take
else carotate_already 'Copy apiserver-new.crt (step 9.3) over apiserver.crt, which nothing reads now'; fi

# Back up /etc/kubernetes/pki/apiserver-kubelet-client.crt
carotate_step 12.2 'on cp-1' 'Back up /etc/kubernetes/pki/apiserver-kubelet-client.crt'
if ! carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.2 /etc/kubernetes/pki/apiserver-kubelet-client.crt; then
  mkdir -p /var/backups/carotate-20260101-abcdef/step-12.2 && (cd / && cp -a --parents /etc/kubernetes/pki/apiserver-kubelet-client.crt /var/backups/carotate-20260101-abcdef/step-12.2/)
  carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.2 /etc/kubernetes/pki/apiserver-kubelet-client.crt || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/pki/apiserver-kubelet-client.crt'; fi

# Copy apiserver-kubelet-client-new.crt (step 9.3) over
# apiserver-kubelet-client.crt, which nothing reads now
carotate_step 12.2 'on cp-1' 'Copy apiserver-kubelet-client-new.crt (step 9.3) over apiserver-kubelet-client.crt, which nothing reads now'
if ! carotate_same /etc/kubernetes/pki/apiserver-kubelet-client-new.crt /etc/kubernetes/pki/apiserver-kubelet-client.crt; then
  cp /etc/kubernetes/pki/apiserver-kubelet-client-new.crt /etc/kubernetes/pki/apiserver-kubelet-client.crt
  carotate_same /etc/kubernetes/pki/apiserver-kubelet-client-new.crt /etc/kubernetes/pki/apiserver-kubelet-client.crt || carotate_did_not_take
else carotate_already 'Copy apiserver-kubelet-client-new.crt (step 9.3) over apiserver-kubelet-client.crt, which nothing reads now'; fi

# kube-apiserver: --client-ca-file=/etc/kubernetes/pki/ca.crt (new CA)
carotate_step 12.2 'on cp-1' 'kube-apiserver: --client-ca-file=/etc/kubernetes/pki/ca.crt (new CA)'
if ! carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --client-ca-file /etc/kubernetes/pki/ca.crt; then
  sed -i -e 's|- --client-ca-file=.*|- --client-ca-file=/etc/kubernetes/pki/ca.crt|' /etc/kubernetes/manifests/kube-apiserver.yaml
  carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --client-ca-file /etc/kubernetes/pki/ca.crt || carotate_did_not_take
else carotate_already 'kube-apiserver: --client-ca-file=/etc/kubernetes/pki/ca.crt (new CA)'; fi

# kube-apiserver: --tls-cert-file=/etc/kubernetes/pki/apiserver.crt
carotate_step 12.2 'on cp-1' 'kube-apiserver: --tls-cert-file=/etc/kubernetes/pki/apiserver.crt'
if ! carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --tls-cert-file /etc/kubernetes/pki/apiserver.crt; then
  sed -i -e 's|- --tls-cert-file=.*|- --tls-cert-file=/etc/kubernetes/pki/apiserver.crt|' /etc/kubernetes/manifests/kube-apiserver.yaml
  carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --tls-cert-file /etc/kubernetes/pki/apiserver.crt || carotate_did_not_take
else carotate_already 'kube-apiserver: --tls-cert-file=/etc/kubernetes/pki/apiserver.crt'; fi

# kube-apiserver:
# --kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt
carotate_step 12.2 'on cp-1' 'kube-apiserver: --kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt'
if ! carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --kubelet-client-certificate /etc/kubernetes/pki/apiserver-kubelet-client.crt; then
  sed -i -e 's|- --kubelet-client-certificate=.*|- --kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt|' /etc/kubernetes/manifests/kube-apiserver.yaml
  carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --kubelet-client-certificate /etc/kubernetes/pki/apiserver-kubelet-client.crt || carotate_did_not_take
else carotate_already 'kube-apiserver: --kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt'; fi

# Wait for kube-apiserver to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running
carotate_step 12.2 'on cp-1' 'Wait for kube-apiserver to restart'
if ! carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /etc/kubernetes/pki/apiserver.crt /etc/kubernetes/pki/apiserver-kubelet-client.crt /etc/kubernetes/pki/ca.crt /etc/kubernetes/manifests/kube-apiserver.yaml; then
  crictl ps --name '^kube-apiserver$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-apiserver to run again and answer https://127.0.0.1:6443/readyz' carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /etc/kubernetes/pki/apiserver.crt /etc/kubernetes/pki/apiserver-kubelet-client.crt /etc/kubernetes/pki/ca.crt /etc/kubernetes/manifests/kube-apiserver.yaml
else carotate_already 'kube-apiserver runs, started after the changes above'; fi

# Back up /etc/kubernetes/controller-manager.conf
carotate_step 12.2 'on cp-1' 'Back up /etc/kubernetes/controller-manager.conf'
if ! carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.2 /etc/kubernetes/controller-manager.conf; then
  mkdir -p /var/backups/carotate-20260101-abcdef/step-12.2 && (cd / && cp -a --parents /etc/kubernetes/controller-manager.conf /var/backups/carotate-20260101-abcdef/step-12.2/)
  carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.2 /etc/kubernetes/controller-manager.conf || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/controller-manager.conf'; fi

# Set certificate-authority-data in /etc/kubernetes/controller-manager.conf to
# the new CA
carotate_step 12.2 'on cp-1' 'Set certificate-authority-data in /etc/kubernetes/controller-manager.conf to the new CA'
if ! carotate_kubeconfig_ca /etc/kubernetes/controller-manager.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c; then
  sed -i 's|certificate-authority-data: .*|certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJtVENDQVQrZ0F3SUJBZ0lVVnZtTU92V3IwSTFSRGVreXA5bXFTd2Z6ZnBNd0NnWUlLb1pJemowRUF3SXcKR1RFWE1CVUdBMVVFQXd3T2EzVmlaWEp1WlhSbGN5MXVaWGN3SUJjTk1qWXhNakF5TVRreE1qRTVXaGdQTWpFeQpOakV4TURneE9URXlNVGxhTUJreEZ6QVZCZ05WQkFNTURtdDFZbVZ5Ym1WMFpYTXRibVYzTUZrd0V3WUhLb1pJCnpqMENBUVlJS29aSXpqMERBUWNEUWdBRTVUL0xQOVhEZS8xOXdrMUxQQkJQRWxPZFp5b1N1OStZNWRvcGk2dWoKTDVsMW5aeXprMEYwWk02aHQwdkMwY24wWXNrRFNhdGpDRkJ4WHhxYWxqVzV6YU5qTUdFd0hRWURWUjBPQkJZRQpGTzNnOFpMUFUvWnh2MGZOczA4N0s0cDFKZExDTUI4R0ExVWRJd1FZTUJhQUZPM2c4WkxQVS9aeHYwZk5zMDg3Cks0cDFKZExDTUE4R0ExVWRFd0VCL3dRRk1BTUJBZjh3RGdZRFZSMFBBUUgvQkFRREFnRUdNQW9HQ0NxR1NNNDkKQkFNQ0EwZ0FNRVVDSUJONU9yL2VlN0NNTkw4N1ZpN0p4Y1lzbmFHcmxSOVFCUlZnaHBtcCtMYitBaUVBOUdlRQpRcHEwNFlVektVWmFLTkl4ZjlLYnNYc1RXNnNPYytVRmZqbW9GR2c9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K|' /etc/kubernetes/controller-manager.conf
  carotate_kubeconfig_ca /etc/kubernetes/controller-manager.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c || carotate_did_not_take
else carotate_already 'Set certificate-authority-data in /etc/kubernetes/controller-manager.conf to the new CA'; fi

# Back up /etc/kubernetes/scheduler.conf
carotate_step 12.2 'on cp-1' 'Back up /etc/kubernetes/scheduler.conf'
if ! carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.2 /etc/kubernetes/scheduler.conf; then
  mkdir -p /var/backups/carotate-20260101-abcdef/step-12.2 && (cd / && cp -a --parents /etc/kubernetes/scheduler.conf /var/backups/carotate-20260101-abcdef/step-12.2/)
  carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.2 /etc/kubernetes/scheduler.conf || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/scheduler.conf'; fi

# Set certificate-authority-data in /etc/kubernetes/scheduler.conf to the new
# CA
carotate_step 12.2 'on cp-1' 'Set certificate-authority-data in /etc/kubernetes/scheduler.conf to the new CA'
if ! carotate_kubeconfig_ca /etc/kubernetes/scheduler.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c; then
  sed -i 's|certificate-authority-data: .*|certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJtVENDQVQrZ0F3SUJBZ0lVVnZtTU92V3IwSTFSRGVreXA5bXFTd2Z6ZnBNd0NnWUlLb1pJemowRUF3SXcKR1RFWE1CVUdBMVVFQXd3T2EzVmlaWEp1WlhSbGN5MXVaWGN3SUJjTk1qWXhNakF5TVRreE1qRTVXaGdQTWpFeQpOakV4TURneE9URXlNVGxhTUJreEZ6QVZCZ05WQkFNTURtdDFZbVZ5Ym1WMFpYTXRibVYzTUZrd0V3WUhLb1pJCnpqMENBUVlJS29aSXpqMERBUWNEUWdBRTVUL0xQOVhEZS8xOXdrMUxQQkJQRWxPZFp5b1N1OStZNWRvcGk2dWoKTDVsMW5aeXprMEYwWk02aHQwdkMwY24wWXNrRFNhdGpDRkJ4WHhxYWxqVzV6YU5qTUdFd0hRWURWUjBPQkJZRQpGTzNnOFpMUFUvWnh2MGZOczA4N0s0cDFKZExDTUI4R0ExVWRJd1FZTUJhQUZPM2c4WkxQVS9aeHYwZk5zMDg3Cks0cDFKZExDTUE4R0ExVWRFd0VCL3dRRk1BTUJBZjh3RGdZRFZSMFBBUUgvQkFRREFnRUdNQW9HQ0NxR1NNNDkKQkFNQ0EwZ0FNRVVDSUJONU9yL2VlN0NNTkw4N1ZpN0p4Y1lzbmFHcmxSOVFCUlZnaHBtcCtMYitBaUVBOUdlRQpRcHEwNFlVektVWmFLTkl4ZjlLYnNYc1RXNnNPYytVRmZqbW9GR2c9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K|' /etc/kubernetes/scheduler.conf
  carotate_kubeconfig_ca /etc/kubernetes/scheduler.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c || carotate_did_not_take
else carotate_already 'Set certificate-authority-data in /etc/kubernetes/scheduler.conf to the new CA'; fi

# Back up /etc/kubernetes/admin.conf
# if /etc/kubernetes/admin.conf exists (kubeadm's admin kubeconfig):
if test -e /etc/kubernetes/admin.conf; then
  carotate_step 12.2 'on cp-1' 'Back up /etc/kubernetes/admin.conf'
  if ! carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.2 /etc/kubernetes/admin.conf; then
    test ! -e /etc/kubernetes/admin.conf || { mkdir -p /var/backups/carotate-20260101-abcdef/step-12.2 && (cd / && cp -a --parents /etc/kubernetes/admin.conf /var/backups/carotate-20260101-abcdef/step-12.2/); }
    carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.2 /etc/kubernetes/admin.conf || carotate_did_not_take
  else carotate_already 'Back up /etc/kubernetes/admin.conf'; fi
else carotate_say "step 12.2 on cp-1: skipped, it applies if /etc/kubernetes/admin.conf exists (kubeadm's admin kubeconfig)"; fi

# Set certificate-authority-data in /etc/kubernetes/admin.conf to the new CA
# if /etc/kubernetes/admin.conf exists (kubeadm's admin kubeconfig):
if test -f /etc/kubernetes/admin.conf; then
  carotate_step 12.2 'on cp-1' 'Set certificate-authority-data in /etc/kubernetes/admin.conf to the new CA'
  if ! carotate_kubeconfig_ca /etc/kubernetes/admin.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c; then
    test -f /etc/kubernetes/admin.conf && sed -i 's|certificate-authority-data: .*|certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJtVENDQVQrZ0F3SUJBZ0lVVnZtTU92V3IwSTFSRGVreXA5bXFTd2Z6ZnBNd0NnWUlLb1pJemowRUF3SXcKR1RFWE1CVUdBMVVFQXd3T2EzVmlaWEp1WlhSbGN5MXVaWGN3SUJjTk1qWXhNakF5TVRreE1qRTVXaGdQTWpFeQpOakV4TURneE9URXlNVGxhTUJreEZ6QVZCZ05WQkFNTURtdDFZbVZ5Ym1WMFpYTXRibVYzTUZrd0V3WUhLb1pJCnpqMENBUVlJS29aSXpqMERBUWNEUWdBRTVUL0xQOVhEZS8xOXdrMUxQQkJQRWxPZFp5b1N1OStZNWRvcGk2dWoKTDVsMW5aeXprMEYwWk02aHQwdkMwY24wWXNrRFNhdGpDRkJ4WHhxYWxqVzV6YU5qTUdFd0hRWURWUjBPQkJZRQpGTzNnOFpMUFUvWnh2MGZOczA4N0s0cDFKZExDTUI4R0ExVWRJd1FZTUJhQUZPM2c4WkxQVS9aeHYwZk5zMDg3Cks0cDFKZExDTUE4R0ExVWRFd0VCL3dRRk1BTUJBZjh3RGdZRFZSMFBBUUgvQkFRREFnRUdNQW9HQ0NxR1NNNDkKQkFNQ0EwZ0FNRVVDSUJONU9yL2VlN0NNTkw4N1ZpN0p4Y1lzbmFHcmxSOVFCUlZnaHBtcCtMYitBaUVBOUdlRQpRcHEwNFlVektVWmFLTkl4ZjlLYnNYc1RXNnNPYytVRmZqbW9GR2c9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K|' /etc/kubernetes/admin.conf
    carotate_kubeconfig_ca /etc/kubernetes/admin.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c || carotate_did_not_take
  else carotate_already 'Set certificate-authority-data in /etc/kubernetes/admin.conf to the new CA'; fi
else carotate_say "step 12.2 on cp-1: skipped, it applies if /etc/kubernetes/admin.conf exists (kubeadm's admin kubeconfig)"; fi

# Back up /etc/kubernetes/super-admin.conf
# if /etc/kubernetes/super-admin.conf exists (kubeadm's admin kubeconfig):
if test -e /etc/kubernetes/super-admin.conf; then
  carotate_step 12.2 'on cp-1' 'Back up /etc/kubernetes/super-admin.conf'
  if ! carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.2 /etc/kubernetes/super-admin.conf; then
    test ! -e /etc/kubernetes/super-admin.conf || { mkdir -p /var/backups/carotate-20260101-abcdef/step-12.2 && (cd / && cp -a --parents /etc/kubernetes/super-admin.conf /var/backups/carotate-20260101-abcdef/step-12.2/); }
    carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.2 /etc/kubernetes/super-admin.conf || carotate_did_not_take
  else carotate_already 'Back up /etc/kubernetes/super-admin.conf'; fi
else carotate_say "step 12.2 on cp-1: skipped, it applies if /etc/kubernetes/super-admin.conf exists (kubeadm's admin kubeconfig)"; fi

# Set certificate-authority-data in /etc/kubernetes/super-admin.conf to the
# new CA
# if /etc/kubernetes/super-admin.conf exists (kubeadm's admin kubeconfig):
if test -f /etc/kubernetes/super-admin.conf; then
  carotate_step 12.2 'on cp-1' 'Set certificate-authority-data in /etc/kubernetes/super-admin.conf to the new CA'
  if ! carotate_kubeconfig_ca /etc/kubernetes/super-admin.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c; then
    test -f /etc/kubernetes/super-admin.conf && sed -i 's|certificate-authority-data: .*|certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJtVENDQVQrZ0F3SUJBZ0lVVnZtTU92V3IwSTFSRGVreXA5bXFTd2Z6ZnBNd0NnWUlLb1pJemowRUF3SXcKR1RFWE1CVUdBMVVFQXd3T2EzVmlaWEp1WlhSbGN5MXVaWGN3SUJjTk1qWXhNakF5TVRreE1qRTVXaGdQTWpFeQpOakV4TURneE9URXlNVGxhTUJreEZ6QVZCZ05WQkFNTURtdDFZbVZ5Ym1WMFpYTXRibVYzTUZrd0V3WUhLb1pJCnpqMENBUVlJS29aSXpqMERBUWNEUWdBRTVUL0xQOVhEZS8xOXdrMUxQQkJQRWxPZFp5b1N1OStZNWRvcGk2dWoKTDVsMW5aeXprMEYwWk02aHQwdkMwY24wWXNrRFNhdGpDRkJ4WHhxYWxqVzV6YU5qTUdFd0hRWURWUjBPQkJZRQpGTzNnOFpMUFUvWnh2MGZOczA4N0s0cDFKZExDTUI4R0ExVWRJd1FZTUJhQUZPM2c4WkxQVS9aeHYwZk5zMDg3Cks0cDFKZExDTUE4R0ExVWRFd0VCL3dRRk1BTUJBZjh3RGdZRFZSMFBBUUgvQkFRREFnRUdNQW9HQ0NxR1NNNDkKQkFNQ0EwZ0FNRVVDSUJONU9yL2VlN0NNTkw4N1ZpN0p4Y1lzbmFHcmxSOVFCUlZnaHBtcCtMYitBaUVBOUdlRQpRcHEwNFlVektVWmFLTkl4ZjlLYnNYc1RXNnNPYytVRmZqbW9GR2c9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K|' /etc/kubernetes/super-admin.conf
    carotate_kubeconfig_ca /etc/kubernetes/super-admin.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c || carotate_did_not_take
  else carotate_already 'Set certificate-authority-data in /etc/kubernetes/super-admin.conf to the new CA'; fi
else carotate_say "step 12.2 on cp-1: skipped, it applies if /etc/kubernetes/super-admin.conf exists (kubeadm's admin kubeconfig)"; fi

# Restart kube-controller-manager
#   stopping the static pod's sandbox makes the kubelet start it again
carotate_step 12.2 'on cp-1' 'Restart kube-controller-manager'
# shellcheck disable=SC2046 # the command substitution is meant to split into one word per line (ids) or is one word (hex digits)
if ! carotate_static_pod kube-controller-manager https://127.0.0.1:10257/healthz /etc/kubernetes/pki/apiserver.crt /etc/kubernetes/pki/apiserver-kubelet-client.crt /etc/kubernetes/pki/ca.crt /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/controller-manager.conf /etc/kubernetes/scheduler.conf /etc/kubernetes/admin.conf /etc/kubernetes/super-admin.conf; then
  crictl stopp $(crictl pods --name '^kube-controller-manager-' --state ready -q)
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-controller-manager to run again and answer https://127.0.0.1:10257/healthz' carotate_static_pod kube-controller-manager https://127.0.0.1:10257/healthz /etc/kubernetes/pki/apiserver.crt /etc/kubernetes/pki/apiserver-kubelet-client.crt /etc/kubernetes/pki/ca.crt /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/controller-manager.conf /etc/kubernetes/scheduler.conf /etc/kubernetes/admin.conf /etc/kubernetes/super-admin.conf
else carotate_already 'kube-controller-manager runs, started after the changes above'; fi

# Restart kube-scheduler
#   stopping the static pod's sandbox makes the kubelet start it again
carotate_step 12.2 'on cp-1' 'Restart kube-scheduler'
# shellcheck disable=SC2046 # the command substitution is meant to split into one word per line (ids) or is one word (hex digits)
if ! carotate_static_pod kube-scheduler https://127.0.0.1:10259/healthz /etc/kubernetes/pki/apiserver.crt /etc/kubernetes/pki/apiserver-kubelet-client.crt /etc/kubernetes/pki/ca.crt /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/controller-manager.conf /etc/kubernetes/scheduler.conf /etc/kubernetes/admin.conf /etc/kubernetes/super-admin.conf; then
  crictl stopp $(crictl pods --name '^kube-scheduler-' --state ready -q)
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-scheduler to run again and answer https://127.0.0.1:10259/healthz' carotate_static_pod kube-scheduler https://127.0.0.1:10259/healthz /etc/kubernetes/pki/apiserver.crt /etc/kubernetes/pki/apiserver-kubelet-client.crt /etc/kubernetes/pki/ca.crt /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/controller-manager.conf /etc/kubernetes/scheduler.conf /etc/kubernetes/admin.conf /etc/kubernetes/super-admin.conf
else carotate_already 'kube-scheduler runs, started after the changes above'; fi

# Remove ca-new.crt (step 1's copy of the new CA), which nothing reads now
carotate_step 12.2 'on cp-1' "Remove ca-new.crt (step 1's copy of the new CA), which nothing reads now"
if ! carotate_absent /etc/kubernetes/pki/ca-new.crt; then
  rm -f /etc/kubernetes/pki/ca-new.crt
  carotate_absent /etc/kubernetes/pki/ca-new.crt || carotate_did_not_take
else carotate_already "Remove ca-new.crt (step 1's copy of the new CA), which nothing reads now"; fi

##############################################################################
# Step 12.2 from the workstation: Remove the old CA from kubeconfigs and
# control-plane files; restart the control plane

# Your kubeconfig: the new CA alone as certificate-authority-data of cluster
# kubernetes
#   and in every other admin and CI kubeconfig
carotate_step 12.2 'from the workstation' 'Your kubeconfig: the new CA alone as certificate-authority-data of cluster kubernetes'
if ! carotate_kubeconfig_ca '' 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c; then
  kubectl config set clusters.kubernetes.certificate-authority-data LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJtVENDQVQrZ0F3SUJBZ0lVVnZtTU92V3IwSTFSRGVreXA5bXFTd2Z6ZnBNd0NnWUlLb1pJemowRUF3SXcKR1RFWE1CVUdBMVVFQXd3T2EzVmlaWEp1WlhSbGN5MXVaWGN3SUJjTk1qWXhNakF5TVRreE1qRTVXaGdQTWpFeQpOakV4TURneE9URXlNVGxhTUJreEZ6QVZCZ05WQkFNTURtdDFZbVZ5Ym1WMFpYTXRibVYzTUZrd0V3WUhLb1pJCnpqMENBUVlJS29aSXpqMERBUWNEUWdBRTVUL0xQOVhEZS8xOXdrMUxQQkJQRWxPZFp5b1N1OStZNWRvcGk2dWoKTDVsMW5aeXprMEYwWk02aHQwdkMwY24wWXNrRFNhdGpDRkJ4WHhxYWxqVzV6YU5qTUdFd0hRWURWUjBPQkJZRQpGTzNnOFpMUFUvWnh2MGZOczA4N0s0cDFKZExDTUI4R0ExVWRJd1FZTUJhQUZPM2c4WkxQVS9aeHYwZk5zMDg3Cks0cDFKZExDTUE4R0ExVWRFd0VCL3dRRk1BTUJBZjh3RGdZRFZSMFBBUUgvQkFRREFnRUdNQW9HQ0NxR1NNNDkKQkFNQ0EwZ0FNRVVDSUJONU9yL2VlN0NNTkw4N1ZpN0p4Y1lzbmFHcmxSOVFCUlZnaHBtcCtMYitBaUVBOUdlRQpRcHEwNFlVektVWmFLTkl4ZjlLYnNYc1RXNnNPYytVRmZqbW9GR2c9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K
  carotate_kubeconfig_ca '' 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c || carotate_did_not_take
else carotate_already 'Your kubeconfig: the new CA alone as certificate-authority-data of cluster kubernetes'; fi

# The new CA alone in kube-public/cluster-info
carotate_step 12.2 'from the workstation' 'The new CA alone in kube-public/cluster-info'
kubectl carotate update-cluster-info --ca new-ca.crt

# Publish kube-system/extension-apiserver-authentication afresh, without the
# old CA
#   kube-apiserver merges its --client-ca-file into this ConfigMap and never
#   drops a CA it published, so the old CA stays there (and aggregated API
#   servers and webhooks that authenticate callers with it keep trusting it)
#   until the ConfigMap is deleted; each API server then writes it again from
#   its own flags, the new CA alone once every one has restarted above
carotate_step 12.2 'from the workstation' 'Publish kube-system/extension-apiserver-authentication afresh, without the old CA'
kubectl -n kube-system delete configmap/extension-apiserver-authentication --ignore-not-found && kubectl -n kube-system wait --for=create configmap/extension-apiserver-authentication --timeout=300s

##############################################################################
# Step 12.3 on cp-1: Kubelets: remove the old CA, restart node by node

# Back up /var/lib/kubelet/config.yaml
carotate_step 12.3 'on cp-1' 'Back up /var/lib/kubelet/config.yaml'
if ! carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.3 /var/lib/kubelet/config.yaml; then
  mkdir -p /var/backups/carotate-20260101-abcdef/step-12.3 && (cd / && cp -a --parents /var/lib/kubelet/config.yaml /var/backups/carotate-20260101-abcdef/step-12.3/)
  carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.3 /var/lib/kubelet/config.yaml || carotate_did_not_take
else carotate_already 'Back up /var/lib/kubelet/config.yaml'; fi

# Back up /etc/kubernetes/kubelet.conf
carotate_step 12.3 'on cp-1' 'Back up /etc/kubernetes/kubelet.conf'
if ! carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.3 /etc/kubernetes/kubelet.conf; then
  mkdir -p /var/backups/carotate-20260101-abcdef/step-12.3 && (cd / && cp -a --parents /etc/kubernetes/kubelet.conf /var/backups/carotate-20260101-abcdef/step-12.3/)
  carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.3 /etc/kubernetes/kubelet.conf || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/kubelet.conf'; fi

# kubelet: clientCAFile: /etc/kubernetes/pki/ca.crt
carotate_step 12.3 'on cp-1' 'kubelet: clientCAFile: /etc/kubernetes/pki/ca.crt'
if ! carotate_config_field /var/lib/kubelet/config.yaml clientCAFile /etc/kubernetes/pki/ca.crt; then
  sed -i -E 's|^([[:space:]]*clientCAFile:).*|\1 /etc/kubernetes/pki/ca.crt|' /var/lib/kubelet/config.yaml
  carotate_config_field /var/lib/kubelet/config.yaml clientCAFile /etc/kubernetes/pki/ca.crt || carotate_did_not_take
else carotate_already 'kubelet: clientCAFile: /etc/kubernetes/pki/ca.crt'; fi

# Set certificate-authority-data in /etc/kubernetes/kubelet.conf to the new CA
carotate_step 12.3 'on cp-1' 'Set certificate-authority-data in /etc/kubernetes/kubelet.conf to the new CA'
if ! carotate_kubeconfig_ca /etc/kubernetes/kubelet.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c; then
  sed -i 's|certificate-authority-data: .*|certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJtVENDQVQrZ0F3SUJBZ0lVVnZtTU92V3IwSTFSRGVreXA5bXFTd2Z6ZnBNd0NnWUlLb1pJemowRUF3SXcKR1RFWE1CVUdBMVVFQXd3T2EzVmlaWEp1WlhSbGN5MXVaWGN3SUJjTk1qWXhNakF5TVRreE1qRTVXaGdQTWpFeQpOakV4TURneE9URXlNVGxhTUJreEZ6QVZCZ05WQkFNTURtdDFZbVZ5Ym1WMFpYTXRibVYzTUZrd0V3WUhLb1pJCnpqMENBUVlJS29aSXpqMERBUWNEUWdBRTVUL0xQOVhEZS8xOXdrMUxQQkJQRWxPZFp5b1N1OStZNWRvcGk2dWoKTDVsMW5aeXprMEYwWk02aHQwdkMwY24wWXNrRFNhdGpDRkJ4WHhxYWxqVzV6YU5qTUdFd0hRWURWUjBPQkJZRQpGTzNnOFpMUFUvWnh2MGZOczA4N0s0cDFKZExDTUI4R0ExVWRJd1FZTUJhQUZPM2c4WkxQVS9aeHYwZk5zMDg3Cks0cDFKZExDTUE4R0ExVWRFd0VCL3dRRk1BTUJBZjh3RGdZRFZSMFBBUUgvQkFRREFnRUdNQW9HQ0NxR1NNNDkKQkFNQ0EwZ0FNRVVDSUJONU9yL2VlN0NNTkw4N1ZpN0p4Y1lzbmFHcmxSOVFCUlZnaHBtcCtMYitBaUVBOUdlRQpRcHEwNFlVektVWmFLTkl4ZjlLYnNYc1RXNnNPYytVRmZqbW9GR2c9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K|' /etc/kubernetes/kubelet.conf
  carotate_kubeconfig_ca /etc/kubernetes/kubelet.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c || carotate_did_not_take
else carotate_already 'Set certificate-authority-data in /etc/kubernetes/kubelet.conf to the new CA'; fi

# Restart the kubelet on cp-1
carotate_step 12.3 'on cp-1' 'Restart the kubelet on cp-1'
if ! carotate_kubelet cp-1 /etc/kubernetes/kubelet.conf /etc/kubernetes/pki/ca.crt /var/lib/kubelet/config.yaml /etc/kubernetes/kubelet.conf; then
  systemctl restart kubelet
  carotate_wait "${CAROTATE_TIMEOUT}" "the kubelet on cp-1 to run again and renew its node's Lease" carotate_kubelet cp-1 /etc/kubernetes/kubelet.conf /etc/kubernetes/pki/ca.crt /var/lib/kubelet/config.yaml /etc/kubernetes/kubelet.conf
else carotate_already 'kubelet runs, started after the changes above'; fi

##############################################################################
# Step 12.3 on worker-a: Kubelets: remove the old CA, restart node by node
# Done by node worker-a's own script, which records it on its Node object;
# wait for it.
carotate_step 12.3 'on worker-a' "waiting for node worker-a's script"
carotate_wait "${CAROTATE_NODE_TIMEOUT}" 'node worker-a to record step 12.3 done (run there: kubectl carotate instructions -o script --step 12.3 --node worker-a)' carotate_node_did worker-a 12.3 1

##############################################################################
# Step 12.3 on worker-b: Kubelets: remove the old CA, restart node by node
# Done by node worker-b's own script, which records it on its Node object;
# wait for it.
carotate_step 12.3 'on worker-b' "waiting for node worker-b's script"
carotate_wait "${CAROTATE_NODE_TIMEOUT}" 'node worker-b to record step 12.3 done (run there: kubectl carotate instructions -o script --step 12.3 --node worker-b)' carotate_node_did worker-b 12.3 1

carotate_say 'done: phase finish on cp-1 and the workstation'
