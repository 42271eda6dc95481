#!/usr/bin/env bash
# kubectl carotate instructions -o script --phase finish (rotation
# 20260102-123456): the steps of node master-0 and the workstation.
# Run it as root on master-0.
# The workstation steps (kubectl carotate commands) run here too, with your
# kubeconfig.
#
# Each step runs only if its check shows it is not done, and its check must
# pass after it: the script stops at the first step that did not take, saying
# why, and a re-run resumes there without doing anything twice. Waits poll
# every 2 s and give up after CAROTATE_TIMEOUT seconds (default 300).
# CAROTATE_SHOW=1 prints each command before it runs.
#
# Golden note: paths for separate-files.
set -euo pipefail
set -o errtrace

# (the helpers of pkg/checks/scripthelpers.sh)

# The rotation, and what every step needs before the first one runs.
carotate_rotation=20260102-123456
: "${CAROTATE_TIMEOUT:=300}"
: "${NEW_CA_KEY:=./new-ca.key}"
: "${NEW_FRONT_PROXY_CA_KEY:=./new-front-proxy-ca.key}"
carotate_on_node master-0
carotate_need crictl curl kubectl openssl systemctl
carotate_key_given NEW_CA_KEY "${NEW_CA_KEY}" 2c6af979a6307b7c960ef08c4418a2b05d97c6e98507ef35b3eda93261a6cab5 'the new CA'
carotate_key_given NEW_FRONT_PROXY_CA_KEY "${NEW_FRONT_PROXY_CA_KEY}" 6801484a7ee7c86344e0237bc6b02e4602273dab6f90a0a07d2b2231e01e9146 'the new front-proxy CA'
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


##############################################################################
# Step 12.1 on master-0: ServiceAccount root CA: the new CA alone; restart
# in-cluster clients

# Back up /srv/k8s/pki
carotate_step 12.1 'on master-0' 'Back up /srv/k8s/pki'
if ! carotate_backed_up /var/backups/carotate-20260102-123456/step-12.1 /srv/k8s/pki; then
  mkdir -p /var/backups/carotate-20260102-123456/step-12.1 && (cd / && cp -a --parents /srv/k8s/pki /var/backups/carotate-20260102-123456/step-12.1/)
  carotate_backed_up /var/backups/carotate-20260102-123456/step-12.1 /srv/k8s/pki || carotate_did_not_take
else carotate_already 'Back up /srv/k8s/pki'; fi

# The new CA alone, into the original sa-root-ca.crt
carotate_step 12.1 'on master-0' 'The new CA alone, into the original sa-root-ca.crt'
if ! carotate_certs /srv/k8s/pki/sa-root-ca.crt 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c; then
  cat >/srv/k8s/pki/sa-root-ca.crt <<'EOF'
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
  chmod 0644 /srv/k8s/pki/sa-root-ca.crt
  carotate_certs /srv/k8s/pki/sa-root-ca.crt 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c || carotate_did_not_take
else carotate_already 'The new CA alone, into the original sa-root-ca.crt'; fi

# The new CA alone, into the original ca.crt
carotate_step 12.1 'on master-0' 'The new CA alone, into the original ca.crt'
if ! carotate_certs /srv/k8s/pki/ca.crt 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c; then
  cat >/srv/k8s/pki/ca.crt <<'EOF'
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
  chmod 0644 /srv/k8s/pki/ca.crt
  carotate_certs /srv/k8s/pki/ca.crt 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c || carotate_did_not_take
else carotate_already 'The new CA alone, into the original ca.crt'; fi

# The new CA alone, into the original kubelet-ca.crt
carotate_step 12.1 'on master-0' 'The new CA alone, into the original kubelet-ca.crt'
if ! carotate_certs /srv/k8s/pki/kubelet-ca.crt 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c; then
  cat >/srv/k8s/pki/kubelet-ca.crt <<'EOF'
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
  chmod 0644 /srv/k8s/pki/kubelet-ca.crt
  carotate_certs /srv/k8s/pki/kubelet-ca.crt 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c || carotate_did_not_take
else carotate_already 'The new CA alone, into the original kubelet-ca.crt'; fi

# The new CA's private key, into the original ca.key
#   copy the key from where you generated it to this node first; kubectl
#   carotate never reads or stores private keys
carotate_step 12.1 'on master-0' "The new CA's private key, into the original ca.key"
if ! carotate_key_file /srv/k8s/pki/ca.key 2c6af979a6307b7c960ef08c4418a2b05d97c6e98507ef35b3eda93261a6cab5 "the new CA's key"; then
  install -m 0600 "${NEW_CA_KEY}" /srv/k8s/pki/ca.key
  carotate_key_file /srv/k8s/pki/ca.key 2c6af979a6307b7c960ef08c4418a2b05d97c6e98507ef35b3eda93261a6cab5 "the new CA's key" || carotate_did_not_take
else carotate_already "The new CA's private key, into the original ca.key"; fi

# Back up /etc/kubernetes/manifests/kube-controller-manager.yaml
carotate_step 12.1 'on master-0' 'Back up /etc/kubernetes/manifests/kube-controller-manager.yaml'
if ! carotate_backed_up /var/backups/carotate-20260102-123456/step-12.1 /etc/kubernetes/manifests/kube-controller-manager.yaml; then
  mkdir -p /var/backups/carotate-20260102-123456/step-12.1 && (cd / && cp -a --parents /etc/kubernetes/manifests/kube-controller-manager.yaml /var/backups/carotate-20260102-123456/step-12.1/)
  carotate_backed_up /var/backups/carotate-20260102-123456/step-12.1 /etc/kubernetes/manifests/kube-controller-manager.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/kube-controller-manager.yaml'; fi

# kube-controller-manager: --root-ca-file=/srv/k8s/pki/sa-root-ca.crt (new CA)
carotate_step 12.1 'on master-0' 'kube-controller-manager: --root-ca-file=/srv/k8s/pki/sa-root-ca.crt (new CA)'
if ! carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --root-ca-file /srv/k8s/pki/sa-root-ca.crt; then
  sed -i -e 's|- --root-ca-file=.*|- --root-ca-file=/srv/k8s/pki/sa-root-ca.crt|' /etc/kubernetes/manifests/kube-controller-manager.yaml
  carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --root-ca-file /srv/k8s/pki/sa-root-ca.crt || carotate_did_not_take
else carotate_already 'kube-controller-manager: --root-ca-file=/srv/k8s/pki/sa-root-ca.crt (new CA)'; fi

# kube-controller-manager: --client-ca-file=/srv/k8s/pki/ca.crt (new CA)
#   points back at the original file, which now holds the new CA alone
carotate_step 12.1 'on master-0' 'kube-controller-manager: --client-ca-file=/srv/k8s/pki/ca.crt (new CA)'
if ! carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --client-ca-file /srv/k8s/pki/ca.crt; then
  sed -i -e 's|- --client-ca-file=.*|- --client-ca-file=/srv/k8s/pki/ca.crt|' /etc/kubernetes/manifests/kube-controller-manager.yaml
  carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --client-ca-file /srv/k8s/pki/ca.crt || carotate_did_not_take
else carotate_already 'kube-controller-manager: --client-ca-file=/srv/k8s/pki/ca.crt (new CA)'; fi

# kube-controller-manager: --cluster-signing-cert-file=/srv/k8s/pki/ca.crt
# (new CA)
#   points back at the original file, which now holds the new CA alone
carotate_step 12.1 'on master-0' 'kube-controller-manager: --cluster-signing-cert-file=/srv/k8s/pki/ca.crt (new CA)'
if ! carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --cluster-signing-cert-file /srv/k8s/pki/ca.crt; then
  sed -i -e 's|- --cluster-signing-cert-file=.*|- --cluster-signing-cert-file=/srv/k8s/pki/ca.crt|' /etc/kubernetes/manifests/kube-controller-manager.yaml
  carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --cluster-signing-cert-file /srv/k8s/pki/ca.crt || carotate_did_not_take
else carotate_already 'kube-controller-manager: --cluster-signing-cert-file=/srv/k8s/pki/ca.crt (new CA)'; fi

# kube-controller-manager: --cluster-signing-key-file=/srv/k8s/pki/ca.key (new
# CA's key)
carotate_step 12.1 'on master-0' "kube-controller-manager: --cluster-signing-key-file=/srv/k8s/pki/ca.key (new CA's key)"
if ! carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --cluster-signing-key-file /srv/k8s/pki/ca.key; then
  sed -i -e 's|- --cluster-signing-key-file=.*|- --cluster-signing-key-file=/srv/k8s/pki/ca.key|' /etc/kubernetes/manifests/kube-controller-manager.yaml
  carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --cluster-signing-key-file /srv/k8s/pki/ca.key || carotate_did_not_take
else carotate_already "kube-controller-manager: --cluster-signing-key-file=/srv/k8s/pki/ca.key (new CA's key)"; fi

# Wait for kube-controller-manager to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running
carotate_step 12.1 'on master-0' 'Wait for kube-controller-manager to restart'
if ! carotate_static_pod kube-controller-manager https://127.0.0.1:10257/healthz /srv/k8s/pki/sa-root-ca.crt /srv/k8s/pki/ca.crt /srv/k8s/pki/kubelet-ca.crt /srv/k8s/pki/ca.key /etc/kubernetes/manifests/kube-controller-manager.yaml; then
  crictl ps --name '^kube-controller-manager$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-controller-manager to run again and answer https://127.0.0.1:10257/healthz' carotate_static_pod kube-controller-manager https://127.0.0.1:10257/healthz /srv/k8s/pki/sa-root-ca.crt /srv/k8s/pki/ca.crt /srv/k8s/pki/kubelet-ca.crt /srv/k8s/pki/ca.key /etc/kubernetes/manifests/kube-controller-manager.yaml
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
kubectl carotate restart-workloads --value 20260102-123456/finish --wait

##############################################################################
# Step 12.2 on master-0: Remove the old CA from kubeconfigs and control-plane
# files; restart the control plane

# Back up /srv/k8s/pki/front-proxy-ca.crt
carotate_step 12.2 'on master-0' 'Back up /srv/k8s/pki/front-proxy-ca.crt'
if ! carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /srv/k8s/pki/front-proxy-ca.crt; then
  mkdir -p /var/backups/carotate-20260102-123456/step-12.2 && (cd / && cp -a --parents /srv/k8s/pki/front-proxy-ca.crt /var/backups/carotate-20260102-123456/step-12.2/)
  carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /srv/k8s/pki/front-proxy-ca.crt || carotate_did_not_take
else carotate_already 'Back up /srv/k8s/pki/front-proxy-ca.crt'; fi

# Back up /srv/k8s/pki/front-proxy-ca.key
carotate_step 12.2 'on master-0' 'Back up /srv/k8s/pki/front-proxy-ca.key'
if ! carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /srv/k8s/pki/front-proxy-ca.key; then
  mkdir -p /var/backups/carotate-20260102-123456/step-12.2 && (cd / && cp -a --parents /srv/k8s/pki/front-proxy-ca.key /var/backups/carotate-20260102-123456/step-12.2/)
  carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /srv/k8s/pki/front-proxy-ca.key || carotate_did_not_take
else carotate_already 'Back up /srv/k8s/pki/front-proxy-ca.key'; fi

# The new front-proxy CA alone, into the original front-proxy-ca.crt
carotate_step 12.2 'on master-0' 'The new front-proxy CA alone, into the original front-proxy-ca.crt'
if ! carotate_certs /srv/k8s/pki/front-proxy-ca.crt 93bf1f099a8d1dbdcb625487be8aeb0114a1d49b0c8ce0a06cd595bac6f0dfdc; then
  cat >/srv/k8s/pki/front-proxy-ca.crt <<'EOF'
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
  chmod 0644 /srv/k8s/pki/front-proxy-ca.crt
  carotate_certs /srv/k8s/pki/front-proxy-ca.crt 93bf1f099a8d1dbdcb625487be8aeb0114a1d49b0c8ce0a06cd595bac6f0dfdc || carotate_did_not_take
else carotate_already 'The new front-proxy CA alone, into the original front-proxy-ca.crt'; fi

# The new front-proxy CA's private key, into the original front-proxy-ca.key
#   copy the key from where you generated it to this node first; kubectl
#   carotate never reads or stores private keys
carotate_step 12.2 'on master-0' "The new front-proxy CA's private key, into the original front-proxy-ca.key"
if ! carotate_key_file /srv/k8s/pki/front-proxy-ca.key 6801484a7ee7c86344e0237bc6b02e4602273dab6f90a0a07d2b2231e01e9146 "the new front-proxy CA's key"; then
  install -m 0600 "${NEW_FRONT_PROXY_CA_KEY}" /srv/k8s/pki/front-proxy-ca.key
  carotate_key_file /srv/k8s/pki/front-proxy-ca.key 6801484a7ee7c86344e0237bc6b02e4602273dab6f90a0a07d2b2231e01e9146 "the new front-proxy CA's key" || carotate_did_not_take
else carotate_already "The new front-proxy CA's private key, into the original front-proxy-ca.key"; fi

# Back up /etc/kubernetes/manifests/kube-apiserver.yaml
carotate_step 12.2 'on master-0' 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'
if ! carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /etc/kubernetes/manifests/kube-apiserver.yaml; then
  mkdir -p /var/backups/carotate-20260102-123456/step-12.2 && (cd / && cp -a --parents /etc/kubernetes/manifests/kube-apiserver.yaml /var/backups/carotate-20260102-123456/step-12.2/)
  carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /etc/kubernetes/manifests/kube-apiserver.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'; fi

# Back up /srv/k8s/pki/apiserver.crt
carotate_step 12.2 'on master-0' 'Back up /srv/k8s/pki/apiserver.crt'
if ! carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /srv/k8s/pki/apiserver.crt; then
  mkdir -p /var/backups/carotate-20260102-123456/step-12.2 && (cd / && cp -a --parents /srv/k8s/pki/apiserver.crt /var/backups/carotate-20260102-123456/step-12.2/)
  carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /srv/k8s/pki/apiserver.crt || carotate_did_not_take
else carotate_already 'Back up /srv/k8s/pki/apiserver.crt'; fi

# Copy apiserver-new.crt (step 9.3) over apiserver.crt, which nothing reads
# now
carotate_step 12.2 'on master-0' 'Copy apiserver-new.crt (step 9.3) over apiserver.crt, which nothing reads now'
if ! carotate_same /srv/k8s/pki/apiserver-new.crt /srv/k8s/pki/apiserver.crt; then
  cp /srv/k8s/pki/apiserver-new.crt /srv/k8s/pki/apiserver.crt
  carotate_same /srv/k8s/pki/apiserver-new.crt /srv/k8s/pki/apiserver.crt || carotate_did_not_take
else carotate_already 'Copy apiserver-new.crt (step 9.3) over apiserver.crt, which nothing reads now'; fi

# Back up /srv/k8s/pki/front-proxy-client.crt
carotate_step 12.2 'on master-0' 'Back up /srv/k8s/pki/front-proxy-client.crt'
if ! carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /srv/k8s/pki/front-proxy-client.crt; then
  mkdir -p /var/backups/carotate-20260102-123456/step-12.2 && (cd / && cp -a --parents /srv/k8s/pki/front-proxy-client.crt /var/backups/carotate-20260102-123456/step-12.2/)
  carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /srv/k8s/pki/front-proxy-client.crt || carotate_did_not_take
else carotate_already 'Back up /srv/k8s/pki/front-proxy-client.crt'; fi

# Copy front-proxy-client-new.crt (step 9.3) over front-proxy-client.crt,
# which nothing reads now
carotate_step 12.2 'on master-0' 'Copy front-proxy-client-new.crt (step 9.3) over front-proxy-client.crt, which nothing reads now'
if ! carotate_same /srv/k8s/pki/front-proxy-client-new.crt /srv/k8s/pki/front-proxy-client.crt; then
  cp /srv/k8s/pki/front-proxy-client-new.crt /srv/k8s/pki/front-proxy-client.crt
  carotate_same /srv/k8s/pki/front-proxy-client-new.crt /srv/k8s/pki/front-proxy-client.crt || carotate_did_not_take
else carotate_already 'Copy front-proxy-client-new.crt (step 9.3) over front-proxy-client.crt, which nothing reads now'; fi

# kube-apiserver: --client-ca-file=/srv/k8s/pki/ca.crt (new CA)
carotate_step 12.2 'on master-0' 'kube-apiserver: --client-ca-file=/srv/k8s/pki/ca.crt (new CA)'
if ! carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --client-ca-file /srv/k8s/pki/ca.crt; then
  sed -i -e 's|- --client-ca-file=.*|- --client-ca-file=/srv/k8s/pki/ca.crt|' /etc/kubernetes/manifests/kube-apiserver.yaml
  carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --client-ca-file /srv/k8s/pki/ca.crt || carotate_did_not_take
else carotate_already 'kube-apiserver: --client-ca-file=/srv/k8s/pki/ca.crt (new CA)'; fi

# kube-apiserver: --kubelet-certificate-authority=/srv/k8s/pki/kubelet-ca.crt
# (new CA)
carotate_step 12.2 'on master-0' 'kube-apiserver: --kubelet-certificate-authority=/srv/k8s/pki/kubelet-ca.crt (new CA)'
if ! carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --kubelet-certificate-authority /srv/k8s/pki/kubelet-ca.crt; then
  sed -i -e 's|- --kubelet-certificate-authority=.*|- --kubelet-certificate-authority=/srv/k8s/pki/kubelet-ca.crt|' /etc/kubernetes/manifests/kube-apiserver.yaml
  carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --kubelet-certificate-authority /srv/k8s/pki/kubelet-ca.crt || carotate_did_not_take
else carotate_already 'kube-apiserver: --kubelet-certificate-authority=/srv/k8s/pki/kubelet-ca.crt (new CA)'; fi

# kube-apiserver:
# --requestheader-client-ca-file=/srv/k8s/pki/front-proxy-ca.crt (new
# front-proxy CA)
carotate_step 12.2 'on master-0' 'kube-apiserver: --requestheader-client-ca-file=/srv/k8s/pki/front-proxy-ca.crt (new front-proxy CA)'
if ! carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --requestheader-client-ca-file /srv/k8s/pki/front-proxy-ca.crt; then
  sed -i -e 's|- --requestheader-client-ca-file=.*|- --requestheader-client-ca-file=/srv/k8s/pki/front-proxy-ca.crt|' /etc/kubernetes/manifests/kube-apiserver.yaml
  carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --requestheader-client-ca-file /srv/k8s/pki/front-proxy-ca.crt || carotate_did_not_take
else carotate_already 'kube-apiserver: --requestheader-client-ca-file=/srv/k8s/pki/front-proxy-ca.crt (new front-proxy CA)'; fi

# kube-apiserver: --tls-cert-file=/srv/k8s/pki/apiserver.crt
carotate_step 12.2 'on master-0' 'kube-apiserver: --tls-cert-file=/srv/k8s/pki/apiserver.crt'
if ! carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --tls-cert-file /srv/k8s/pki/apiserver.crt; then
  sed -i -e 's|- --tls-cert-file=.*|- --tls-cert-file=/srv/k8s/pki/apiserver.crt|' /etc/kubernetes/manifests/kube-apiserver.yaml
  carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --tls-cert-file /srv/k8s/pki/apiserver.crt || carotate_did_not_take
else carotate_already 'kube-apiserver: --tls-cert-file=/srv/k8s/pki/apiserver.crt'; fi

# kube-apiserver: --proxy-client-cert-file=/srv/k8s/pki/front-proxy-client.crt
carotate_step 12.2 'on master-0' 'kube-apiserver: --proxy-client-cert-file=/srv/k8s/pki/front-proxy-client.crt'
if ! carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --proxy-client-cert-file /srv/k8s/pki/front-proxy-client.crt; then
  sed -i -e 's|- --proxy-client-cert-file=.*|- --proxy-client-cert-file=/srv/k8s/pki/front-proxy-client.crt|' /etc/kubernetes/manifests/kube-apiserver.yaml
  carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --proxy-client-cert-file /srv/k8s/pki/front-proxy-client.crt || carotate_did_not_take
else carotate_already 'kube-apiserver: --proxy-client-cert-file=/srv/k8s/pki/front-proxy-client.crt'; fi

# Wait for kube-apiserver to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running
carotate_step 12.2 'on master-0' 'Wait for kube-apiserver to restart'
if ! carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /srv/k8s/pki/front-proxy-ca.crt /srv/k8s/pki/front-proxy-ca.key /srv/k8s/pki/apiserver.crt /srv/k8s/pki/front-proxy-client.crt /srv/k8s/pki/ca.crt /etc/kubernetes/manifests/kube-apiserver.yaml /srv/k8s/pki/kubelet-ca.crt; then
  crictl ps --name '^kube-apiserver$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-apiserver to run again and answer https://127.0.0.1:6443/readyz' carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /srv/k8s/pki/front-proxy-ca.crt /srv/k8s/pki/front-proxy-ca.key /srv/k8s/pki/apiserver.crt /srv/k8s/pki/front-proxy-client.crt /srv/k8s/pki/ca.crt /etc/kubernetes/manifests/kube-apiserver.yaml /srv/k8s/pki/kubelet-ca.crt
else carotate_already 'kube-apiserver runs, started after the changes above'; fi

# Back up /etc/kubernetes/manifests/kube-scheduler.yaml
carotate_step 12.2 'on master-0' 'Back up /etc/kubernetes/manifests/kube-scheduler.yaml'
if ! carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /etc/kubernetes/manifests/kube-scheduler.yaml; then
  mkdir -p /var/backups/carotate-20260102-123456/step-12.2 && (cd / && cp -a --parents /etc/kubernetes/manifests/kube-scheduler.yaml /var/backups/carotate-20260102-123456/step-12.2/)
  carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /etc/kubernetes/manifests/kube-scheduler.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/kube-scheduler.yaml'; fi

# kube-scheduler: --client-ca-file=/srv/k8s/pki/ca.crt (new CA)
carotate_step 12.2 'on master-0' 'kube-scheduler: --client-ca-file=/srv/k8s/pki/ca.crt (new CA)'
if ! carotate_flag /etc/kubernetes/manifests/kube-scheduler.yaml --client-ca-file /srv/k8s/pki/ca.crt; then
  sed -i -e 's|- --client-ca-file=.*|- --client-ca-file=/srv/k8s/pki/ca.crt|' /etc/kubernetes/manifests/kube-scheduler.yaml
  carotate_flag /etc/kubernetes/manifests/kube-scheduler.yaml --client-ca-file /srv/k8s/pki/ca.crt || carotate_did_not_take
else carotate_already 'kube-scheduler: --client-ca-file=/srv/k8s/pki/ca.crt (new CA)'; fi

# Wait for kube-scheduler to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running
carotate_step 12.2 'on master-0' 'Wait for kube-scheduler to restart'
if ! carotate_static_pod kube-scheduler https://127.0.0.1:10259/healthz /srv/k8s/pki/front-proxy-ca.crt /srv/k8s/pki/front-proxy-ca.key /srv/k8s/pki/apiserver.crt /srv/k8s/pki/front-proxy-client.crt /srv/k8s/pki/ca.crt /etc/kubernetes/manifests/kube-apiserver.yaml /srv/k8s/pki/kubelet-ca.crt /etc/kubernetes/manifests/kube-scheduler.yaml; then
  crictl ps --name '^kube-scheduler$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-scheduler to run again and answer https://127.0.0.1:10259/healthz' carotate_static_pod kube-scheduler https://127.0.0.1:10259/healthz /srv/k8s/pki/front-proxy-ca.crt /srv/k8s/pki/front-proxy-ca.key /srv/k8s/pki/apiserver.crt /srv/k8s/pki/front-proxy-client.crt /srv/k8s/pki/ca.crt /etc/kubernetes/manifests/kube-apiserver.yaml /srv/k8s/pki/kubelet-ca.crt /etc/kubernetes/manifests/kube-scheduler.yaml
else carotate_already 'kube-scheduler runs, started after the changes above'; fi

# Back up /etc/kubernetes/manifests/cloud-controller-manager.yaml
carotate_step 12.2 'on master-0' 'Back up /etc/kubernetes/manifests/cloud-controller-manager.yaml'
if ! carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /etc/kubernetes/manifests/cloud-controller-manager.yaml; then
  mkdir -p /var/backups/carotate-20260102-123456/step-12.2 && (cd / && cp -a --parents /etc/kubernetes/manifests/cloud-controller-manager.yaml /var/backups/carotate-20260102-123456/step-12.2/)
  carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /etc/kubernetes/manifests/cloud-controller-manager.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/cloud-controller-manager.yaml'; fi

# cloud-controller-manager: --root-ca-file=/srv/k8s/pki/sa-root-ca.crt (new
# CA)
carotate_step 12.2 'on master-0' 'cloud-controller-manager: --root-ca-file=/srv/k8s/pki/sa-root-ca.crt (new CA)'
if ! carotate_flag /etc/kubernetes/manifests/cloud-controller-manager.yaml --root-ca-file /srv/k8s/pki/sa-root-ca.crt; then
  sed -i -e 's|- --root-ca-file=.*|- --root-ca-file=/srv/k8s/pki/sa-root-ca.crt|' /etc/kubernetes/manifests/cloud-controller-manager.yaml
  carotate_flag /etc/kubernetes/manifests/cloud-controller-manager.yaml --root-ca-file /srv/k8s/pki/sa-root-ca.crt || carotate_did_not_take
else carotate_already 'cloud-controller-manager: --root-ca-file=/srv/k8s/pki/sa-root-ca.crt (new CA)'; fi

# Wait for cloud-controller-manager to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running
carotate_step 12.2 'on master-0' 'Wait for cloud-controller-manager to restart'
if ! carotate_static_pod cloud-controller-manager https://127.0.0.1:10258/healthz /srv/k8s/pki/front-proxy-ca.crt /srv/k8s/pki/front-proxy-ca.key /srv/k8s/pki/apiserver.crt /srv/k8s/pki/front-proxy-client.crt /srv/k8s/pki/ca.crt /etc/kubernetes/manifests/kube-apiserver.yaml /srv/k8s/pki/kubelet-ca.crt /etc/kubernetes/manifests/kube-scheduler.yaml /srv/k8s/pki/sa-root-ca.crt /etc/kubernetes/manifests/cloud-controller-manager.yaml; then
  crictl ps --name '^cloud-controller-manager$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'cloud-controller-manager to run again and answer https://127.0.0.1:10258/healthz' carotate_static_pod cloud-controller-manager https://127.0.0.1:10258/healthz /srv/k8s/pki/front-proxy-ca.crt /srv/k8s/pki/front-proxy-ca.key /srv/k8s/pki/apiserver.crt /srv/k8s/pki/front-proxy-client.crt /srv/k8s/pki/ca.crt /etc/kubernetes/manifests/kube-apiserver.yaml /srv/k8s/pki/kubelet-ca.crt /etc/kubernetes/manifests/kube-scheduler.yaml /srv/k8s/pki/sa-root-ca.crt /etc/kubernetes/manifests/cloud-controller-manager.yaml
else carotate_already 'cloud-controller-manager runs, started after the changes above'; fi

# Back up /etc/kubernetes/manifests/kube-controller-manager.yaml
carotate_step 12.2 'on master-0' 'Back up /etc/kubernetes/manifests/kube-controller-manager.yaml'
if ! carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /etc/kubernetes/manifests/kube-controller-manager.yaml; then
  mkdir -p /var/backups/carotate-20260102-123456/step-12.2 && (cd / && cp -a --parents /etc/kubernetes/manifests/kube-controller-manager.yaml /var/backups/carotate-20260102-123456/step-12.2/)
  carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /etc/kubernetes/manifests/kube-controller-manager.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/kube-controller-manager.yaml'; fi

# kube-controller-manager:
# --requestheader-client-ca-file=/srv/k8s/pki/front-proxy-ca.crt (new
# front-proxy CA)
carotate_step 12.2 'on master-0' 'kube-controller-manager: --requestheader-client-ca-file=/srv/k8s/pki/front-proxy-ca.crt (new front-proxy CA)'
if ! carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --requestheader-client-ca-file /srv/k8s/pki/front-proxy-ca.crt; then
  sed -i -e 's|- --requestheader-client-ca-file=.*|- --requestheader-client-ca-file=/srv/k8s/pki/front-proxy-ca.crt|' /etc/kubernetes/manifests/kube-controller-manager.yaml
  carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --requestheader-client-ca-file /srv/k8s/pki/front-proxy-ca.crt || carotate_did_not_take
else carotate_already 'kube-controller-manager: --requestheader-client-ca-file=/srv/k8s/pki/front-proxy-ca.crt (new front-proxy CA)'; fi

# Wait for kube-controller-manager to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running
carotate_step 12.2 'on master-0' 'Wait for kube-controller-manager to restart'
if ! carotate_static_pod kube-controller-manager https://127.0.0.1:10257/healthz /srv/k8s/pki/front-proxy-ca.crt /srv/k8s/pki/front-proxy-ca.key /srv/k8s/pki/apiserver.crt /srv/k8s/pki/front-proxy-client.crt /srv/k8s/pki/ca.crt /etc/kubernetes/manifests/kube-apiserver.yaml /srv/k8s/pki/kubelet-ca.crt /etc/kubernetes/manifests/kube-scheduler.yaml /srv/k8s/pki/sa-root-ca.crt /etc/kubernetes/manifests/cloud-controller-manager.yaml /etc/kubernetes/manifests/kube-controller-manager.yaml; then
  crictl ps --name '^kube-controller-manager$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-controller-manager to run again and answer https://127.0.0.1:10257/healthz' carotate_static_pod kube-controller-manager https://127.0.0.1:10257/healthz /srv/k8s/pki/front-proxy-ca.crt /srv/k8s/pki/front-proxy-ca.key /srv/k8s/pki/apiserver.crt /srv/k8s/pki/front-proxy-client.crt /srv/k8s/pki/ca.crt /etc/kubernetes/manifests/kube-apiserver.yaml /srv/k8s/pki/kubelet-ca.crt /etc/kubernetes/manifests/kube-scheduler.yaml /srv/k8s/pki/sa-root-ca.crt /etc/kubernetes/manifests/cloud-controller-manager.yaml /etc/kubernetes/manifests/kube-controller-manager.yaml
else carotate_already 'kube-controller-manager runs, started after the changes above'; fi

# Back up /srv/k8s/kcm.kubeconfig
carotate_step 12.2 'on master-0' 'Back up /srv/k8s/kcm.kubeconfig'
if ! carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /srv/k8s/kcm.kubeconfig; then
  mkdir -p /var/backups/carotate-20260102-123456/step-12.2 && (cd / && cp -a --parents /srv/k8s/kcm.kubeconfig /var/backups/carotate-20260102-123456/step-12.2/)
  carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /srv/k8s/kcm.kubeconfig || carotate_did_not_take
else carotate_already 'Back up /srv/k8s/kcm.kubeconfig'; fi

# Set certificate-authority-data in /srv/k8s/kcm.kubeconfig to the new CA
carotate_step 12.2 'on master-0' 'Set certificate-authority-data in /srv/k8s/kcm.kubeconfig to the new CA'
if ! carotate_kubeconfig_ca /srv/k8s/kcm.kubeconfig 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c; then
  sed -i 's|certificate-authority-data: .*|certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJtVENDQVQrZ0F3SUJBZ0lVVnZtTU92V3IwSTFSRGVreXA5bXFTd2Z6ZnBNd0NnWUlLb1pJemowRUF3SXcKR1RFWE1CVUdBMVVFQXd3T2EzVmlaWEp1WlhSbGN5MXVaWGN3SUJjTk1qWXhNakF5TVRreE1qRTVXaGdQTWpFeQpOakV4TURneE9URXlNVGxhTUJreEZ6QVZCZ05WQkFNTURtdDFZbVZ5Ym1WMFpYTXRibVYzTUZrd0V3WUhLb1pJCnpqMENBUVlJS29aSXpqMERBUWNEUWdBRTVUL0xQOVhEZS8xOXdrMUxQQkJQRWxPZFp5b1N1OStZNWRvcGk2dWoKTDVsMW5aeXprMEYwWk02aHQwdkMwY24wWXNrRFNhdGpDRkJ4WHhxYWxqVzV6YU5qTUdFd0hRWURWUjBPQkJZRQpGTzNnOFpMUFUvWnh2MGZOczA4N0s0cDFKZExDTUI4R0ExVWRJd1FZTUJhQUZPM2c4WkxQVS9aeHYwZk5zMDg3Cks0cDFKZExDTUE4R0ExVWRFd0VCL3dRRk1BTUJBZjh3RGdZRFZSMFBBUUgvQkFRREFnRUdNQW9HQ0NxR1NNNDkKQkFNQ0EwZ0FNRVVDSUJONU9yL2VlN0NNTkw4N1ZpN0p4Y1lzbmFHcmxSOVFCUlZnaHBtcCtMYitBaUVBOUdlRQpRcHEwNFlVektVWmFLTkl4ZjlLYnNYc1RXNnNPYytVRmZqbW9GR2c9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K|' /srv/k8s/kcm.kubeconfig
  carotate_kubeconfig_ca /srv/k8s/kcm.kubeconfig 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c || carotate_did_not_take
else carotate_already 'Set certificate-authority-data in /srv/k8s/kcm.kubeconfig to the new CA'; fi

# Back up /srv/k8s/scheduler.kubeconfig
carotate_step 12.2 'on master-0' 'Back up /srv/k8s/scheduler.kubeconfig'
if ! carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /srv/k8s/scheduler.kubeconfig; then
  mkdir -p /var/backups/carotate-20260102-123456/step-12.2 && (cd / && cp -a --parents /srv/k8s/scheduler.kubeconfig /var/backups/carotate-20260102-123456/step-12.2/)
  carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /srv/k8s/scheduler.kubeconfig || carotate_did_not_take
else carotate_already 'Back up /srv/k8s/scheduler.kubeconfig'; fi

# Set certificate-authority-data in /srv/k8s/scheduler.kubeconfig to the new
# CA
carotate_step 12.2 'on master-0' 'Set certificate-authority-data in /srv/k8s/scheduler.kubeconfig to the new CA'
if ! carotate_kubeconfig_ca /srv/k8s/scheduler.kubeconfig 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c; then
  sed -i 's|certificate-authority-data: .*|certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJtVENDQVQrZ0F3SUJBZ0lVVnZtTU92V3IwSTFSRGVreXA5bXFTd2Z6ZnBNd0NnWUlLb1pJemowRUF3SXcKR1RFWE1CVUdBMVVFQXd3T2EzVmlaWEp1WlhSbGN5MXVaWGN3SUJjTk1qWXhNakF5TVRreE1qRTVXaGdQTWpFeQpOakV4TURneE9URXlNVGxhTUJreEZ6QVZCZ05WQkFNTURtdDFZbVZ5Ym1WMFpYTXRibVYzTUZrd0V3WUhLb1pJCnpqMENBUVlJS29aSXpqMERBUWNEUWdBRTVUL0xQOVhEZS8xOXdrMUxQQkJQRWxPZFp5b1N1OStZNWRvcGk2dWoKTDVsMW5aeXprMEYwWk02aHQwdkMwY24wWXNrRFNhdGpDRkJ4WHhxYWxqVzV6YU5qTUdFd0hRWURWUjBPQkJZRQpGTzNnOFpMUFUvWnh2MGZOczA4N0s0cDFKZExDTUI4R0ExVWRJd1FZTUJhQUZPM2c4WkxQVS9aeHYwZk5zMDg3Cks0cDFKZExDTUE4R0ExVWRFd0VCL3dRRk1BTUJBZjh3RGdZRFZSMFBBUUgvQkFRREFnRUdNQW9HQ0NxR1NNNDkKQkFNQ0EwZ0FNRVVDSUJONU9yL2VlN0NNTkw4N1ZpN0p4Y1lzbmFHcmxSOVFCUlZnaHBtcCtMYitBaUVBOUdlRQpRcHEwNFlVektVWmFLTkl4ZjlLYnNYc1RXNnNPYytVRmZqbW9GR2c9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K|' /srv/k8s/scheduler.kubeconfig
  carotate_kubeconfig_ca /srv/k8s/scheduler.kubeconfig 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c || carotate_did_not_take
else carotate_already 'Set certificate-authority-data in /srv/k8s/scheduler.kubeconfig to the new CA'; fi

# Back up /srv/k8s/ccm.kubeconfig
carotate_step 12.2 'on master-0' 'Back up /srv/k8s/ccm.kubeconfig'
if ! carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /srv/k8s/ccm.kubeconfig; then
  mkdir -p /var/backups/carotate-20260102-123456/step-12.2 && (cd / && cp -a --parents /srv/k8s/ccm.kubeconfig /var/backups/carotate-20260102-123456/step-12.2/)
  carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /srv/k8s/ccm.kubeconfig || carotate_did_not_take
else carotate_already 'Back up /srv/k8s/ccm.kubeconfig'; fi

# Set certificate-authority-data in /srv/k8s/ccm.kubeconfig to the new CA
carotate_step 12.2 'on master-0' 'Set certificate-authority-data in /srv/k8s/ccm.kubeconfig to the new CA'
if ! carotate_kubeconfig_ca /srv/k8s/ccm.kubeconfig 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c; then
  sed -i 's|certificate-authority-data: .*|certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJtVENDQVQrZ0F3SUJBZ0lVVnZtTU92V3IwSTFSRGVreXA5bXFTd2Z6ZnBNd0NnWUlLb1pJemowRUF3SXcKR1RFWE1CVUdBMVVFQXd3T2EzVmlaWEp1WlhSbGN5MXVaWGN3SUJjTk1qWXhNakF5TVRreE1qRTVXaGdQTWpFeQpOakV4TURneE9URXlNVGxhTUJreEZ6QVZCZ05WQkFNTURtdDFZbVZ5Ym1WMFpYTXRibVYzTUZrd0V3WUhLb1pJCnpqMENBUVlJS29aSXpqMERBUWNEUWdBRTVUL0xQOVhEZS8xOXdrMUxQQkJQRWxPZFp5b1N1OStZNWRvcGk2dWoKTDVsMW5aeXprMEYwWk02aHQwdkMwY24wWXNrRFNhdGpDRkJ4WHhxYWxqVzV6YU5qTUdFd0hRWURWUjBPQkJZRQpGTzNnOFpMUFUvWnh2MGZOczA4N0s0cDFKZExDTUI4R0ExVWRJd1FZTUJhQUZPM2c4WkxQVS9aeHYwZk5zMDg3Cks0cDFKZExDTUE4R0ExVWRFd0VCL3dRRk1BTUJBZjh3RGdZRFZSMFBBUUgvQkFRREFnRUdNQW9HQ0NxR1NNNDkKQkFNQ0EwZ0FNRVVDSUJONU9yL2VlN0NNTkw4N1ZpN0p4Y1lzbmFHcmxSOVFCUlZnaHBtcCtMYitBaUVBOUdlRQpRcHEwNFlVektVWmFLTkl4ZjlLYnNYc1RXNnNPYytVRmZqbW9GR2c9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K|' /srv/k8s/ccm.kubeconfig
  carotate_kubeconfig_ca /srv/k8s/ccm.kubeconfig 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c || carotate_did_not_take
else carotate_already 'Set certificate-authority-data in /srv/k8s/ccm.kubeconfig to the new CA'; fi

# Back up /srv/k8s/admin.conf
# if /srv/k8s/admin.conf exists (kubeadm's admin kubeconfig):
if test -e /srv/k8s/admin.conf; then
  carotate_step 12.2 'on master-0' 'Back up /srv/k8s/admin.conf'
  if ! carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /srv/k8s/admin.conf; then
    test ! -e /srv/k8s/admin.conf || { mkdir -p /var/backups/carotate-20260102-123456/step-12.2 && (cd / && cp -a --parents /srv/k8s/admin.conf /var/backups/carotate-20260102-123456/step-12.2/); }
    carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /srv/k8s/admin.conf || carotate_did_not_take
  else carotate_already 'Back up /srv/k8s/admin.conf'; fi
else carotate_say "step 12.2 on master-0: skipped, it applies if /srv/k8s/admin.conf exists (kubeadm's admin kubeconfig)"; fi

# Set certificate-authority-data in /srv/k8s/admin.conf to the new CA
# if /srv/k8s/admin.conf exists (kubeadm's admin kubeconfig):
if test -f /srv/k8s/admin.conf; then
  carotate_step 12.2 'on master-0' 'Set certificate-authority-data in /srv/k8s/admin.conf to the new CA'
  if ! carotate_kubeconfig_ca /srv/k8s/admin.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c; then
    test -f /srv/k8s/admin.conf && sed -i 's|certificate-authority-data: .*|certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJtVENDQVQrZ0F3SUJBZ0lVVnZtTU92V3IwSTFSRGVreXA5bXFTd2Z6ZnBNd0NnWUlLb1pJemowRUF3SXcKR1RFWE1CVUdBMVVFQXd3T2EzVmlaWEp1WlhSbGN5MXVaWGN3SUJjTk1qWXhNakF5TVRreE1qRTVXaGdQTWpFeQpOakV4TURneE9URXlNVGxhTUJreEZ6QVZCZ05WQkFNTURtdDFZbVZ5Ym1WMFpYTXRibVYzTUZrd0V3WUhLb1pJCnpqMENBUVlJS29aSXpqMERBUWNEUWdBRTVUL0xQOVhEZS8xOXdrMUxQQkJQRWxPZFp5b1N1OStZNWRvcGk2dWoKTDVsMW5aeXprMEYwWk02aHQwdkMwY24wWXNrRFNhdGpDRkJ4WHhxYWxqVzV6YU5qTUdFd0hRWURWUjBPQkJZRQpGTzNnOFpMUFUvWnh2MGZOczA4N0s0cDFKZExDTUI4R0ExVWRJd1FZTUJhQUZPM2c4WkxQVS9aeHYwZk5zMDg3Cks0cDFKZExDTUE4R0ExVWRFd0VCL3dRRk1BTUJBZjh3RGdZRFZSMFBBUUgvQkFRREFnRUdNQW9HQ0NxR1NNNDkKQkFNQ0EwZ0FNRVVDSUJONU9yL2VlN0NNTkw4N1ZpN0p4Y1lzbmFHcmxSOVFCUlZnaHBtcCtMYitBaUVBOUdlRQpRcHEwNFlVektVWmFLTkl4ZjlLYnNYc1RXNnNPYytVRmZqbW9GR2c9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K|' /srv/k8s/admin.conf
    carotate_kubeconfig_ca /srv/k8s/admin.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c || carotate_did_not_take
  else carotate_already 'Set certificate-authority-data in /srv/k8s/admin.conf to the new CA'; fi
else carotate_say "step 12.2 on master-0: skipped, it applies if /srv/k8s/admin.conf exists (kubeadm's admin kubeconfig)"; fi

# Back up /srv/k8s/super-admin.conf
# if /srv/k8s/super-admin.conf exists (kubeadm's admin kubeconfig):
if test -e /srv/k8s/super-admin.conf; then
  carotate_step 12.2 'on master-0' 'Back up /srv/k8s/super-admin.conf'
  if ! carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /srv/k8s/super-admin.conf; then
    test ! -e /srv/k8s/super-admin.conf || { mkdir -p /var/backups/carotate-20260102-123456/step-12.2 && (cd / && cp -a --parents /srv/k8s/super-admin.conf /var/backups/carotate-20260102-123456/step-12.2/); }
    carotate_backed_up /var/backups/carotate-20260102-123456/step-12.2 /srv/k8s/super-admin.conf || carotate_did_not_take
  else carotate_already 'Back up /srv/k8s/super-admin.conf'; fi
else carotate_say "step 12.2 on master-0: skipped, it applies if /srv/k8s/super-admin.conf exists (kubeadm's admin kubeconfig)"; fi

# Set certificate-authority-data in /srv/k8s/super-admin.conf to the new CA
# if /srv/k8s/super-admin.conf exists (kubeadm's admin kubeconfig):
if test -f /srv/k8s/super-admin.conf; then
  carotate_step 12.2 'on master-0' 'Set certificate-authority-data in /srv/k8s/super-admin.conf to the new CA'
  if ! carotate_kubeconfig_ca /srv/k8s/super-admin.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c; then
    test -f /srv/k8s/super-admin.conf && sed -i 's|certificate-authority-data: .*|certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJtVENDQVQrZ0F3SUJBZ0lVVnZtTU92V3IwSTFSRGVreXA5bXFTd2Z6ZnBNd0NnWUlLb1pJemowRUF3SXcKR1RFWE1CVUdBMVVFQXd3T2EzVmlaWEp1WlhSbGN5MXVaWGN3SUJjTk1qWXhNakF5TVRreE1qRTVXaGdQTWpFeQpOakV4TURneE9URXlNVGxhTUJreEZ6QVZCZ05WQkFNTURtdDFZbVZ5Ym1WMFpYTXRibVYzTUZrd0V3WUhLb1pJCnpqMENBUVlJS29aSXpqMERBUWNEUWdBRTVUL0xQOVhEZS8xOXdrMUxQQkJQRWxPZFp5b1N1OStZNWRvcGk2dWoKTDVsMW5aeXprMEYwWk02aHQwdkMwY24wWXNrRFNhdGpDRkJ4WHhxYWxqVzV6YU5qTUdFd0hRWURWUjBPQkJZRQpGTzNnOFpMUFUvWnh2MGZOczA4N0s0cDFKZExDTUI4R0ExVWRJd1FZTUJhQUZPM2c4WkxQVS9aeHYwZk5zMDg3Cks0cDFKZExDTUE4R0ExVWRFd0VCL3dRRk1BTUJBZjh3RGdZRFZSMFBBUUgvQkFRREFnRUdNQW9HQ0NxR1NNNDkKQkFNQ0EwZ0FNRVVDSUJONU9yL2VlN0NNTkw4N1ZpN0p4Y1lzbmFHcmxSOVFCUlZnaHBtcCtMYitBaUVBOUdlRQpRcHEwNFlVektVWmFLTkl4ZjlLYnNYc1RXNnNPYytVRmZqbW9GR2c9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K|' /srv/k8s/super-admin.conf
    carotate_kubeconfig_ca /srv/k8s/super-admin.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c || carotate_did_not_take
  else carotate_already 'Set certificate-authority-data in /srv/k8s/super-admin.conf to the new CA'; fi
else carotate_say "step 12.2 on master-0: skipped, it applies if /srv/k8s/super-admin.conf exists (kubeadm's admin kubeconfig)"; fi

# Restart kube-controller-manager
#   stopping the static pod's sandbox makes the kubelet start it again
carotate_step 12.2 'on master-0' 'Restart kube-controller-manager'
# shellcheck disable=SC2046 # the command substitution is meant to split into one word per line (ids) or is one word (hex digits)
if ! carotate_static_pod kube-controller-manager https://127.0.0.1:10257/healthz /srv/k8s/pki/front-proxy-ca.crt /srv/k8s/pki/front-proxy-ca.key /srv/k8s/pki/apiserver.crt /srv/k8s/pki/front-proxy-client.crt /srv/k8s/pki/ca.crt /etc/kubernetes/manifests/kube-apiserver.yaml /srv/k8s/pki/kubelet-ca.crt /etc/kubernetes/manifests/kube-scheduler.yaml /srv/k8s/pki/sa-root-ca.crt /etc/kubernetes/manifests/cloud-controller-manager.yaml /etc/kubernetes/manifests/kube-controller-manager.yaml /srv/k8s/kcm.kubeconfig /srv/k8s/scheduler.kubeconfig /srv/k8s/ccm.kubeconfig /srv/k8s/admin.conf /srv/k8s/super-admin.conf; then
  crictl stopp $(crictl pods --name '^kube-controller-manager-' --state ready -q)
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-controller-manager to run again and answer https://127.0.0.1:10257/healthz' carotate_static_pod kube-controller-manager https://127.0.0.1:10257/healthz /srv/k8s/pki/front-proxy-ca.crt /srv/k8s/pki/front-proxy-ca.key /srv/k8s/pki/apiserver.crt /srv/k8s/pki/front-proxy-client.crt /srv/k8s/pki/ca.crt /etc/kubernetes/manifests/kube-apiserver.yaml /srv/k8s/pki/kubelet-ca.crt /etc/kubernetes/manifests/kube-scheduler.yaml /srv/k8s/pki/sa-root-ca.crt /etc/kubernetes/manifests/cloud-controller-manager.yaml /etc/kubernetes/manifests/kube-controller-manager.yaml /srv/k8s/kcm.kubeconfig /srv/k8s/scheduler.kubeconfig /srv/k8s/ccm.kubeconfig /srv/k8s/admin.conf /srv/k8s/super-admin.conf
else carotate_already 'kube-controller-manager runs, started after the changes above'; fi

# Restart kube-scheduler
#   stopping the static pod's sandbox makes the kubelet start it again
carotate_step 12.2 'on master-0' 'Restart kube-scheduler'
# shellcheck disable=SC2046 # the command substitution is meant to split into one word per line (ids) or is one word (hex digits)
if ! carotate_static_pod kube-scheduler https://127.0.0.1:10259/healthz /srv/k8s/pki/front-proxy-ca.crt /srv/k8s/pki/front-proxy-ca.key /srv/k8s/pki/apiserver.crt /srv/k8s/pki/front-proxy-client.crt /srv/k8s/pki/ca.crt /etc/kubernetes/manifests/kube-apiserver.yaml /srv/k8s/pki/kubelet-ca.crt /etc/kubernetes/manifests/kube-scheduler.yaml /srv/k8s/pki/sa-root-ca.crt /etc/kubernetes/manifests/cloud-controller-manager.yaml /etc/kubernetes/manifests/kube-controller-manager.yaml /srv/k8s/kcm.kubeconfig /srv/k8s/scheduler.kubeconfig /srv/k8s/ccm.kubeconfig /srv/k8s/admin.conf /srv/k8s/super-admin.conf; then
  crictl stopp $(crictl pods --name '^kube-scheduler-' --state ready -q)
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-scheduler to run again and answer https://127.0.0.1:10259/healthz' carotate_static_pod kube-scheduler https://127.0.0.1:10259/healthz /srv/k8s/pki/front-proxy-ca.crt /srv/k8s/pki/front-proxy-ca.key /srv/k8s/pki/apiserver.crt /srv/k8s/pki/front-proxy-client.crt /srv/k8s/pki/ca.crt /etc/kubernetes/manifests/kube-apiserver.yaml /srv/k8s/pki/kubelet-ca.crt /etc/kubernetes/manifests/kube-scheduler.yaml /srv/k8s/pki/sa-root-ca.crt /etc/kubernetes/manifests/cloud-controller-manager.yaml /etc/kubernetes/manifests/kube-controller-manager.yaml /srv/k8s/kcm.kubeconfig /srv/k8s/scheduler.kubeconfig /srv/k8s/ccm.kubeconfig /srv/k8s/admin.conf /srv/k8s/super-admin.conf
else carotate_already 'kube-scheduler runs, started after the changes above'; fi

# Restart cloud-controller-manager
#   stopping the static pod's sandbox makes the kubelet start it again
carotate_step 12.2 'on master-0' 'Restart cloud-controller-manager'
# shellcheck disable=SC2046 # the command substitution is meant to split into one word per line (ids) or is one word (hex digits)
if ! carotate_static_pod cloud-controller-manager https://127.0.0.1:10258/healthz /srv/k8s/pki/front-proxy-ca.crt /srv/k8s/pki/front-proxy-ca.key /srv/k8s/pki/apiserver.crt /srv/k8s/pki/front-proxy-client.crt /srv/k8s/pki/ca.crt /etc/kubernetes/manifests/kube-apiserver.yaml /srv/k8s/pki/kubelet-ca.crt /etc/kubernetes/manifests/kube-scheduler.yaml /srv/k8s/pki/sa-root-ca.crt /etc/kubernetes/manifests/cloud-controller-manager.yaml /etc/kubernetes/manifests/kube-controller-manager.yaml /srv/k8s/kcm.kubeconfig /srv/k8s/scheduler.kubeconfig /srv/k8s/ccm.kubeconfig /srv/k8s/admin.conf /srv/k8s/super-admin.conf; then
  crictl stopp $(crictl pods --name '^cloud-controller-manager-' --state ready -q)
  carotate_wait "${CAROTATE_TIMEOUT}" 'cloud-controller-manager to run again and answer https://127.0.0.1:10258/healthz' carotate_static_pod cloud-controller-manager https://127.0.0.1:10258/healthz /srv/k8s/pki/front-proxy-ca.crt /srv/k8s/pki/front-proxy-ca.key /srv/k8s/pki/apiserver.crt /srv/k8s/pki/front-proxy-client.crt /srv/k8s/pki/ca.crt /etc/kubernetes/manifests/kube-apiserver.yaml /srv/k8s/pki/kubelet-ca.crt /etc/kubernetes/manifests/kube-scheduler.yaml /srv/k8s/pki/sa-root-ca.crt /etc/kubernetes/manifests/cloud-controller-manager.yaml /etc/kubernetes/manifests/kube-controller-manager.yaml /srv/k8s/kcm.kubeconfig /srv/k8s/scheduler.kubeconfig /srv/k8s/ccm.kubeconfig /srv/k8s/admin.conf /srv/k8s/super-admin.conf
else carotate_already 'cloud-controller-manager runs, started after the changes above'; fi

# Remove sa-root-ca-new.crt (step 1's copy of the new CA), which nothing reads
# now
carotate_step 12.2 'on master-0' "Remove sa-root-ca-new.crt (step 1's copy of the new CA), which nothing reads now"
if ! carotate_absent /srv/k8s/pki/sa-root-ca-new.crt; then
  rm -f /srv/k8s/pki/sa-root-ca-new.crt
  carotate_absent /srv/k8s/pki/sa-root-ca-new.crt || carotate_did_not_take
else carotate_already "Remove sa-root-ca-new.crt (step 1's copy of the new CA), which nothing reads now"; fi

# Remove ca-new.crt (step 1's copy of the new CA), which nothing reads now
carotate_step 12.2 'on master-0' "Remove ca-new.crt (step 1's copy of the new CA), which nothing reads now"
if ! carotate_absent /srv/k8s/pki/ca-new.crt; then
  rm -f /srv/k8s/pki/ca-new.crt
  carotate_absent /srv/k8s/pki/ca-new.crt || carotate_did_not_take
else carotate_already "Remove ca-new.crt (step 1's copy of the new CA), which nothing reads now"; fi

# Remove kubelet-ca-new.crt (step 1's copy of the new CA), which nothing reads
# now
carotate_step 12.2 'on master-0' "Remove kubelet-ca-new.crt (step 1's copy of the new CA), which nothing reads now"
if ! carotate_absent /srv/k8s/pki/kubelet-ca-new.crt; then
  rm -f /srv/k8s/pki/kubelet-ca-new.crt
  carotate_absent /srv/k8s/pki/kubelet-ca-new.crt || carotate_did_not_take
else carotate_already "Remove kubelet-ca-new.crt (step 1's copy of the new CA), which nothing reads now"; fi

##############################################################################
# Step 12.2 from the workstation: Remove the old CA from kubeconfigs and
# control-plane files; restart the control plane

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
# Step 12.3 on master-0: Kubelets: remove the old CA, restart node by node

# Back up /var/lib/kubelet/config.yaml
carotate_step 12.3 'on master-0' 'Back up /var/lib/kubelet/config.yaml'
if ! carotate_backed_up /var/backups/carotate-20260102-123456/step-12.3 /var/lib/kubelet/config.yaml; then
  mkdir -p /var/backups/carotate-20260102-123456/step-12.3 && (cd / && cp -a --parents /var/lib/kubelet/config.yaml /var/backups/carotate-20260102-123456/step-12.3/)
  carotate_backed_up /var/backups/carotate-20260102-123456/step-12.3 /var/lib/kubelet/config.yaml || carotate_did_not_take
else carotate_already 'Back up /var/lib/kubelet/config.yaml'; fi

# Back up /etc/kubernetes/kubelet.conf
carotate_step 12.3 'on master-0' 'Back up /etc/kubernetes/kubelet.conf'
if ! carotate_backed_up /var/backups/carotate-20260102-123456/step-12.3 /etc/kubernetes/kubelet.conf; then
  mkdir -p /var/backups/carotate-20260102-123456/step-12.3 && (cd / && cp -a --parents /etc/kubernetes/kubelet.conf /var/backups/carotate-20260102-123456/step-12.3/)
  carotate_backed_up /var/backups/carotate-20260102-123456/step-12.3 /etc/kubernetes/kubelet.conf || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/kubelet.conf'; fi

# Back up /srv/k8s/pki/kubelet-client-ca.crt
carotate_step 12.3 'on master-0' 'Back up /srv/k8s/pki/kubelet-client-ca.crt'
if ! carotate_backed_up /var/backups/carotate-20260102-123456/step-12.3 /srv/k8s/pki/kubelet-client-ca.crt; then
  mkdir -p /var/backups/carotate-20260102-123456/step-12.3 && (cd / && cp -a --parents /srv/k8s/pki/kubelet-client-ca.crt /var/backups/carotate-20260102-123456/step-12.3/)
  carotate_backed_up /var/backups/carotate-20260102-123456/step-12.3 /srv/k8s/pki/kubelet-client-ca.crt || carotate_did_not_take
else carotate_already 'Back up /srv/k8s/pki/kubelet-client-ca.crt'; fi

# The new CA alone, into the original kubelet-client-ca.crt
carotate_step 12.3 'on master-0' 'The new CA alone, into the original kubelet-client-ca.crt'
if ! carotate_certs /srv/k8s/pki/kubelet-client-ca.crt 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c; then
  cat >/srv/k8s/pki/kubelet-client-ca.crt <<'EOF'
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
  chmod 0644 /srv/k8s/pki/kubelet-client-ca.crt
  carotate_certs /srv/k8s/pki/kubelet-client-ca.crt 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c || carotate_did_not_take
else carotate_already 'The new CA alone, into the original kubelet-client-ca.crt'; fi

# kubelet: clientCAFile: /srv/k8s/pki/kubelet-client-ca.crt
carotate_step 12.3 'on master-0' 'kubelet: clientCAFile: /srv/k8s/pki/kubelet-client-ca.crt'
if ! carotate_config_field /var/lib/kubelet/config.yaml clientCAFile /srv/k8s/pki/kubelet-client-ca.crt; then
  sed -i -E 's|^([[:space:]]*clientCAFile:).*|\1 /srv/k8s/pki/kubelet-client-ca.crt|' /var/lib/kubelet/config.yaml
  carotate_config_field /var/lib/kubelet/config.yaml clientCAFile /srv/k8s/pki/kubelet-client-ca.crt || carotate_did_not_take
else carotate_already 'kubelet: clientCAFile: /srv/k8s/pki/kubelet-client-ca.crt'; fi

# Set certificate-authority-data in /etc/kubernetes/kubelet.conf to the new CA
carotate_step 12.3 'on master-0' 'Set certificate-authority-data in /etc/kubernetes/kubelet.conf to the new CA'
if ! carotate_kubeconfig_ca /etc/kubernetes/kubelet.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c; then
  sed -i 's|certificate-authority-data: .*|certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJtVENDQVQrZ0F3SUJBZ0lVVnZtTU92V3IwSTFSRGVreXA5bXFTd2Z6ZnBNd0NnWUlLb1pJemowRUF3SXcKR1RFWE1CVUdBMVVFQXd3T2EzVmlaWEp1WlhSbGN5MXVaWGN3SUJjTk1qWXhNakF5TVRreE1qRTVXaGdQTWpFeQpOakV4TURneE9URXlNVGxhTUJreEZ6QVZCZ05WQkFNTURtdDFZbVZ5Ym1WMFpYTXRibVYzTUZrd0V3WUhLb1pJCnpqMENBUVlJS29aSXpqMERBUWNEUWdBRTVUL0xQOVhEZS8xOXdrMUxQQkJQRWxPZFp5b1N1OStZNWRvcGk2dWoKTDVsMW5aeXprMEYwWk02aHQwdkMwY24wWXNrRFNhdGpDRkJ4WHhxYWxqVzV6YU5qTUdFd0hRWURWUjBPQkJZRQpGTzNnOFpMUFUvWnh2MGZOczA4N0s0cDFKZExDTUI4R0ExVWRJd1FZTUJhQUZPM2c4WkxQVS9aeHYwZk5zMDg3Cks0cDFKZExDTUE4R0ExVWRFd0VCL3dRRk1BTUJBZjh3RGdZRFZSMFBBUUgvQkFRREFnRUdNQW9HQ0NxR1NNNDkKQkFNQ0EwZ0FNRVVDSUJONU9yL2VlN0NNTkw4N1ZpN0p4Y1lzbmFHcmxSOVFCUlZnaHBtcCtMYitBaUVBOUdlRQpRcHEwNFlVektVWmFLTkl4ZjlLYnNYc1RXNnNPYytVRmZqbW9GR2c9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K|' /etc/kubernetes/kubelet.conf
  carotate_kubeconfig_ca /etc/kubernetes/kubelet.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c || carotate_did_not_take
else carotate_already 'Set certificate-authority-data in /etc/kubernetes/kubelet.conf to the new CA'; fi

# Restart the kubelet on master-0
carotate_step 12.3 'on master-0' 'Restart the kubelet on master-0'
if ! carotate_kubelet master-0 /etc/kubernetes/kubelet.conf /srv/k8s/pki/kubelet-client-ca.crt /var/lib/kubelet/config.yaml /etc/kubernetes/kubelet.conf; then
  systemctl restart kubelet
  carotate_wait "${CAROTATE_TIMEOUT}" "the kubelet on master-0 to run again and renew its node's Lease" carotate_kubelet master-0 /etc/kubernetes/kubelet.conf /srv/k8s/pki/kubelet-client-ca.crt /var/lib/kubelet/config.yaml /etc/kubernetes/kubelet.conf
else carotate_already 'kubelet runs, started after the changes above'; fi

carotate_say 'done: phase finish on master-0 and the workstation'
