#!/usr/bin/env bash
# kubectl carotate instructions -o script --phase bundle (rotation
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
# Golden note: paths for kubeadm.
set -euo pipefail
set -o errtrace

# (the helpers of pkg/checks/scripthelpers.sh)

# The rotation, and what every step needs before the first one runs.
carotate_rotation=20260101-abcdef
: "${CAROTATE_TIMEOUT:=300}"
: "${NEW_CA_KEY:=./new-ca.key}"
carotate_on_node cp-1
carotate_need crictl curl kubectl openssl
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


##############################################################################
# Step 1 on cp-1: Copy the new CA (and front-proxy CA) into every
# control-plane node's certificate directory

# Back up /etc/kubernetes/pki
carotate_step 1 'on cp-1' 'Back up /etc/kubernetes/pki'
if ! carotate_backed_up /var/backups/carotate-20260101-abcdef/step-1 /etc/kubernetes/pki; then
  mkdir -p /var/backups/carotate-20260101-abcdef/step-1 && (cd / && cp -a --parents /etc/kubernetes/pki /var/backups/carotate-20260101-abcdef/step-1/)
  carotate_backed_up /var/backups/carotate-20260101-abcdef/step-1 /etc/kubernetes/pki || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/pki'; fi

# The new CA alone, beside ca.crt
carotate_step 1 'on cp-1' 'The new CA alone, beside ca.crt'
if ! carotate_certs /etc/kubernetes/pki/ca-new.crt 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c; then
  cat >/etc/kubernetes/pki/ca-new.crt <<'EOF'
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
  chmod 0644 /etc/kubernetes/pki/ca-new.crt
  carotate_certs /etc/kubernetes/pki/ca-new.crt 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c || carotate_did_not_take
else carotate_already 'The new CA alone, beside ca.crt'; fi

# The bundle (new CA, then old), beside ca.crt
carotate_step 1 'on cp-1' 'The bundle (new CA, then old), beside ca.crt'
if ! carotate_certs /etc/kubernetes/pki/ca-bundle.crt 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c a9ae0942a2c3379ce7f6e2fcae654d6fac08c2246ec12ab389e8e19a4f0ba0f1; then
  cat >/etc/kubernetes/pki/ca-bundle.crt <<'EOF'
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
  chmod 0644 /etc/kubernetes/pki/ca-bundle.crt
  carotate_certs /etc/kubernetes/pki/ca-bundle.crt 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c a9ae0942a2c3379ce7f6e2fcae654d6fac08c2246ec12ab389e8e19a4f0ba0f1 || carotate_did_not_take
else carotate_already 'The bundle (new CA, then old), beside ca.crt'; fi

# The new CA's private key, beside ca.key
#   copy the key from where you generated it to this node first; kubectl
#   carotate never reads or stores private keys
carotate_step 1 'on cp-1' "The new CA's private key, beside ca.key"
if ! carotate_key_file /etc/kubernetes/pki/ca-new.key 2c6af979a6307b7c960ef08c4418a2b05d97c6e98507ef35b3eda93261a6cab5 "the new CA's key"; then
  install -m 0600 "${NEW_CA_KEY}" /etc/kubernetes/pki/ca-new.key
  carotate_key_file /etc/kubernetes/pki/ca-new.key 2c6af979a6307b7c960ef08c4418a2b05d97c6e98507ef35b3eda93261a6cab5 "the new CA's key" || carotate_did_not_take
else carotate_already "The new CA's private key, beside ca.key"; fi

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
carotate_wait "${CAROTATE_TIMEOUT}" 'kube-controller-manager to publish its --root-ca-file (bundle: new CA, then old) in kube-system/kube-root-ca.crt' carotate_published 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c a9ae0942a2c3379ce7f6e2fcae654d6fac08c2246ec12ab389e8e19a4f0ba0f1

##############################################################################
# Step 3 from the workstation: The controller-manager publishes the bundle to
# every ServiceAccount root CA

# Publish the bundle to every ServiceAccount root CA (kube-root-ca.crt, legacy
# token Secrets)
carotate_step 3 'from the workstation' 'Publish the bundle to every ServiceAccount root CA (kube-root-ca.crt, legacy token Secrets)'
kubectl carotate bundle --old-ca old-ca.crt --new-ca new-ca.crt --out ca-bundle.crt

##############################################################################
# Step 4 from the workstation: Restart every pod that uses in-cluster config

# Roll every workload so its pods load the bundle
carotate_step 4 'from the workstation' 'Roll every workload so its pods load the bundle'
kubectl carotate restart-workloads --value 20260101-abcdef/bundle --wait

##############################################################################
# Step 5 on cp-1: kube-apiserver: old+new in --client-ca-file and
# --kubelet-certificate-authority

# Back up /etc/kubernetes/manifests/kube-apiserver.yaml
carotate_step 5 'on cp-1' 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'
if ! carotate_backed_up /var/backups/carotate-20260101-abcdef/step-5 /etc/kubernetes/manifests/kube-apiserver.yaml; then
  mkdir -p /var/backups/carotate-20260101-abcdef/step-5 && (cd / && cp -a --parents /etc/kubernetes/manifests/kube-apiserver.yaml /var/backups/carotate-20260101-abcdef/step-5/)
  carotate_backed_up /var/backups/carotate-20260101-abcdef/step-5 /etc/kubernetes/manifests/kube-apiserver.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'; fi

# kube-apiserver: --client-ca-file=/etc/kubernetes/pki/ca-bundle.crt (bundle:
# new CA, then old)
#   kube-apiserver has no --kubelet-certificate-authority: it does not verify
#   kubelet serving certificates, so that flag needs nothing
carotate_step 5 'on cp-1' 'kube-apiserver: --client-ca-file=/etc/kubernetes/pki/ca-bundle.crt (bundle: new CA, then old)'
if ! carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --client-ca-file /etc/kubernetes/pki/ca-bundle.crt; then
  sed -i -e 's|- --client-ca-file=.*|- --client-ca-file=/etc/kubernetes/pki/ca-bundle.crt|' /etc/kubernetes/manifests/kube-apiserver.yaml
  carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --client-ca-file /etc/kubernetes/pki/ca-bundle.crt || carotate_did_not_take
else carotate_already 'kube-apiserver: --client-ca-file=/etc/kubernetes/pki/ca-bundle.crt (bundle: new CA, then old)'; fi

# Wait for kube-apiserver to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running; with one API server this restart
#   is an outage, with several do one node at a time
carotate_step 5 'on cp-1' 'Wait for kube-apiserver to restart'
if ! carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /etc/kubernetes/pki/ca-bundle.crt /etc/kubernetes/manifests/kube-apiserver.yaml; then
  crictl ps --name '^kube-apiserver$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-apiserver to run again and answer https://127.0.0.1:6443/readyz' carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /etc/kubernetes/pki/ca-bundle.crt /etc/kubernetes/manifests/kube-apiserver.yaml
else carotate_already 'kube-apiserver runs, started after the changes above'; fi

##############################################################################
# Step 6 on cp-1: kube-scheduler: old+new in --client-ca-file

# nothing to do: kube-scheduler on cp-1 has no --client-ca-file: it reads the
# client CA from kube-system/extension-apiserver-authentication, which the API
# server fills from its own --client-ca-file (step 5)
carotate_say 'step 6 on cp-1: nothing to do: kube-scheduler on cp-1 has no --client-ca-file: it reads the client CA from kube-system/extension-apiserver-authentication, which the API server fills from its own --client-ca-file (step 5)'

##############################################################################
# Step 7 on cp-1: Kubeconfigs: the bundle as certificate-authority-data,
# client certificates from the new CA

# Back up /etc/kubernetes/controller-manager.conf
carotate_step 7 'on cp-1' 'Back up /etc/kubernetes/controller-manager.conf'
if ! carotate_backed_up /var/backups/carotate-20260101-abcdef/step-7 /etc/kubernetes/controller-manager.conf; then
  mkdir -p /var/backups/carotate-20260101-abcdef/step-7 && (cd / && cp -a --parents /etc/kubernetes/controller-manager.conf /var/backups/carotate-20260101-abcdef/step-7/)
  carotate_backed_up /var/backups/carotate-20260101-abcdef/step-7 /etc/kubernetes/controller-manager.conf || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/controller-manager.conf'; fi

# Set certificate-authority-data in /etc/kubernetes/controller-manager.conf to
# the bundle: new CA, then old
carotate_step 7 'on cp-1' 'Set certificate-authority-data in /etc/kubernetes/controller-manager.conf to the bundle: new CA, then old'
if ! carotate_kubeconfig_ca /etc/kubernetes/controller-manager.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c a9ae0942a2c3379ce7f6e2fcae654d6fac08c2246ec12ab389e8e19a4f0ba0f1; then
  sed -i 's|certificate-authority-data: .*|certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJtVENDQVQrZ0F3SUJBZ0lVVnZtTU92V3IwSTFSRGVreXA5bXFTd2Z6ZnBNd0NnWUlLb1pJemowRUF3SXcKR1RFWE1CVUdBMVVFQXd3T2EzVmlaWEp1WlhSbGN5MXVaWGN3SUJjTk1qWXhNakF5TVRreE1qRTVXaGdQTWpFeQpOakV4TURneE9URXlNVGxhTUJreEZ6QVZCZ05WQkFNTURtdDFZbVZ5Ym1WMFpYTXRibVYzTUZrd0V3WUhLb1pJCnpqMENBUVlJS29aSXpqMERBUWNEUWdBRTVUL0xQOVhEZS8xOXdrMUxQQkJQRWxPZFp5b1N1OStZNWRvcGk2dWoKTDVsMW5aeXprMEYwWk02aHQwdkMwY24wWXNrRFNhdGpDRkJ4WHhxYWxqVzV6YU5qTUdFd0hRWURWUjBPQkJZRQpGTzNnOFpMUFUvWnh2MGZOczA4N0s0cDFKZExDTUI4R0ExVWRJd1FZTUJhQUZPM2c4WkxQVS9aeHYwZk5zMDg3Cks0cDFKZExDTUE4R0ExVWRFd0VCL3dRRk1BTUJBZjh3RGdZRFZSMFBBUUgvQkFRREFnRUdNQW9HQ0NxR1NNNDkKQkFNQ0EwZ0FNRVVDSUJONU9yL2VlN0NNTkw4N1ZpN0p4Y1lzbmFHcmxSOVFCUlZnaHBtcCtMYitBaUVBOUdlRQpRcHEwNFlVektVWmFLTkl4ZjlLYnNYc1RXNnNPYytVRmZqbW9GR2c9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0KLS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJrakNDQVRlZ0F3SUJBZ0lVWk5WZGRleDg2UUE5Y1RFL2ZjeCtRS2x0bjJRd0NnWUlLb1pJemowRUF3SXcKRlRFVE1CRUdBMVVFQXd3S2EzVmlaWEp1WlhSbGN6QWdGdzB5TmpFeU1ESXhPVEV5TVRsYUdBOHlNVEkyTVRFdwpPREU1TVRJeE9Wb3dGVEVUTUJFR0ExVUVBd3dLYTNWaVpYSnVaWFJsY3pCWk1CTUdCeXFHU000OUFnRUdDQ3FHClNNNDlBd0VIQTBJQUJDUmhmbyt5U084WDJRSlBoYStFclNmZ0lqTkJIZnpPV2RxVk9LZDQva1BuL1hGNFRWUTQKMFQ0WGdxaUZnMHgxYmlTd1pkd1QzYlFleDV0aVRna1R4a09qWXpCaE1CMEdBMVVkRGdRV0JCVDJ0UEFwNzl1cApyc1FBMmcyWURQbHdXRUFaOXpBZkJnTlZIU01FR0RBV2dCVDJ0UEFwNzl1cHJzUUEyZzJZRFBsd1dFQVo5ekFQCkJnTlZIUk1CQWY4RUJUQURBUUgvTUE0R0ExVWREd0VCL3dRRUF3SUJCakFLQmdncWhrak9QUVFEQWdOSkFEQkcKQWlFQTNNbU5WcHFzOEg5Uklwc1hldlM3MGl4dnA2QTBlTzVaU084bWk2Wi9wVUFDSVFDSlVpdHZIV21uZXZWOQp4OVJoUFpZdEZoTVIrbzZvbXpWMGhicjRQUXM5UGc9PQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==|' /etc/kubernetes/controller-manager.conf
  carotate_kubeconfig_ca /etc/kubernetes/controller-manager.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c a9ae0942a2c3379ce7f6e2fcae654d6fac08c2246ec12ab389e8e19a4f0ba0f1 || carotate_did_not_take
else carotate_already 'Set certificate-authority-data in /etc/kubernetes/controller-manager.conf to the bundle: new CA, then old'; fi

# Re-issue the client certificate of /etc/kubernetes/controller-manager.conf
# from the new CA (same key, subject and extensions)
#   needs OpenSSL 3 (-copy_extensions); a client certificate from the old CA
#   stops working at step 12.2
carotate_step 7 'on cp-1' 'Re-issue the client certificate of /etc/kubernetes/controller-manager.conf from the new CA (same key, subject and extensions)'
# shellcheck disable=SC2046 # the command substitution is meant to split into one word per line (ids) or is one word (hex digits)
if ! carotate_client_cert_from /etc/kubernetes/controller-manager.conf /etc/kubernetes/pki/ca-new.crt; then
  d=$(mktemp -d) && kubectl config view --raw --kubeconfig /etc/kubernetes/controller-manager.conf -o jsonpath='{.users[0].user.client-certificate-data}' | base64 -d >"$d/client.crt" && kubectl config view --raw --kubeconfig /etc/kubernetes/controller-manager.conf -o jsonpath='{.users[0].user.client-key-data}' | base64 -d >"$d/client.key" && openssl x509 -x509toreq -in "$d/client.crt" -signkey "$d/client.key" -copy_extensions copyall -out "$d/client.csr" && openssl x509 -req -in "$d/client.csr" -CA /etc/kubernetes/pki/ca-new.crt -CAkey /etc/kubernetes/pki/ca-new.key -set_serial 0x$(openssl rand -hex 16) -days 365 -copy_extensions copyall -out "$d/client-new.crt" && kubectl config set-credentials "$(kubectl config view --kubeconfig /etc/kubernetes/controller-manager.conf -o jsonpath='{.users[0].name}')" --kubeconfig /etc/kubernetes/controller-manager.conf --client-certificate "$d/client-new.crt" --client-key "$d/client.key" --embed-certs && rm -rf "$d"
  carotate_client_cert_from /etc/kubernetes/controller-manager.conf /etc/kubernetes/pki/ca-new.crt || carotate_did_not_take
else carotate_already 'Re-issue the client certificate of /etc/kubernetes/controller-manager.conf from the new CA (same key, subject and extensions)'; fi

# Back up /etc/kubernetes/scheduler.conf
carotate_step 7 'on cp-1' 'Back up /etc/kubernetes/scheduler.conf'
if ! carotate_backed_up /var/backups/carotate-20260101-abcdef/step-7 /etc/kubernetes/scheduler.conf; then
  mkdir -p /var/backups/carotate-20260101-abcdef/step-7 && (cd / && cp -a --parents /etc/kubernetes/scheduler.conf /var/backups/carotate-20260101-abcdef/step-7/)
  carotate_backed_up /var/backups/carotate-20260101-abcdef/step-7 /etc/kubernetes/scheduler.conf || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/scheduler.conf'; fi

# Set certificate-authority-data in /etc/kubernetes/scheduler.conf to the
# bundle: new CA, then old
carotate_step 7 'on cp-1' 'Set certificate-authority-data in /etc/kubernetes/scheduler.conf to the bundle: new CA, then old'
if ! carotate_kubeconfig_ca /etc/kubernetes/scheduler.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c a9ae0942a2c3379ce7f6e2fcae654d6fac08c2246ec12ab389e8e19a4f0ba0f1; then
  sed -i 's|certificate-authority-data: .*|certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJtVENDQVQrZ0F3SUJBZ0lVVnZtTU92V3IwSTFSRGVreXA5bXFTd2Z6ZnBNd0NnWUlLb1pJemowRUF3SXcKR1RFWE1CVUdBMVVFQXd3T2EzVmlaWEp1WlhSbGN5MXVaWGN3SUJjTk1qWXhNakF5TVRreE1qRTVXaGdQTWpFeQpOakV4TURneE9URXlNVGxhTUJreEZ6QVZCZ05WQkFNTURtdDFZbVZ5Ym1WMFpYTXRibVYzTUZrd0V3WUhLb1pJCnpqMENBUVlJS29aSXpqMERBUWNEUWdBRTVUL0xQOVhEZS8xOXdrMUxQQkJQRWxPZFp5b1N1OStZNWRvcGk2dWoKTDVsMW5aeXprMEYwWk02aHQwdkMwY24wWXNrRFNhdGpDRkJ4WHhxYWxqVzV6YU5qTUdFd0hRWURWUjBPQkJZRQpGTzNnOFpMUFUvWnh2MGZOczA4N0s0cDFKZExDTUI4R0ExVWRJd1FZTUJhQUZPM2c4WkxQVS9aeHYwZk5zMDg3Cks0cDFKZExDTUE4R0ExVWRFd0VCL3dRRk1BTUJBZjh3RGdZRFZSMFBBUUgvQkFRREFnRUdNQW9HQ0NxR1NNNDkKQkFNQ0EwZ0FNRVVDSUJONU9yL2VlN0NNTkw4N1ZpN0p4Y1lzbmFHcmxSOVFCUlZnaHBtcCtMYitBaUVBOUdlRQpRcHEwNFlVektVWmFLTkl4ZjlLYnNYc1RXNnNPYytVRmZqbW9GR2c9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0KLS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJrakNDQVRlZ0F3SUJBZ0lVWk5WZGRleDg2UUE5Y1RFL2ZjeCtRS2x0bjJRd0NnWUlLb1pJemowRUF3SXcKRlRFVE1CRUdBMVVFQXd3S2EzVmlaWEp1WlhSbGN6QWdGdzB5TmpFeU1ESXhPVEV5TVRsYUdBOHlNVEkyTVRFdwpPREU1TVRJeE9Wb3dGVEVUTUJFR0ExVUVBd3dLYTNWaVpYSnVaWFJsY3pCWk1CTUdCeXFHU000OUFnRUdDQ3FHClNNNDlBd0VIQTBJQUJDUmhmbyt5U084WDJRSlBoYStFclNmZ0lqTkJIZnpPV2RxVk9LZDQva1BuL1hGNFRWUTQKMFQ0WGdxaUZnMHgxYmlTd1pkd1QzYlFleDV0aVRna1R4a09qWXpCaE1CMEdBMVVkRGdRV0JCVDJ0UEFwNzl1cApyc1FBMmcyWURQbHdXRUFaOXpBZkJnTlZIU01FR0RBV2dCVDJ0UEFwNzl1cHJzUUEyZzJZRFBsd1dFQVo5ekFQCkJnTlZIUk1CQWY4RUJUQURBUUgvTUE0R0ExVWREd0VCL3dRRUF3SUJCakFLQmdncWhrak9QUVFEQWdOSkFEQkcKQWlFQTNNbU5WcHFzOEg5Uklwc1hldlM3MGl4dnA2QTBlTzVaU084bWk2Wi9wVUFDSVFDSlVpdHZIV21uZXZWOQp4OVJoUFpZdEZoTVIrbzZvbXpWMGhicjRQUXM5UGc9PQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==|' /etc/kubernetes/scheduler.conf
  carotate_kubeconfig_ca /etc/kubernetes/scheduler.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c a9ae0942a2c3379ce7f6e2fcae654d6fac08c2246ec12ab389e8e19a4f0ba0f1 || carotate_did_not_take
else carotate_already 'Set certificate-authority-data in /etc/kubernetes/scheduler.conf to the bundle: new CA, then old'; fi

# Re-issue the client certificate of /etc/kubernetes/scheduler.conf from the
# new CA (same key, subject and extensions)
#   needs OpenSSL 3 (-copy_extensions); a client certificate from the old CA
#   stops working at step 12.2
carotate_step 7 'on cp-1' 'Re-issue the client certificate of /etc/kubernetes/scheduler.conf from the new CA (same key, subject and extensions)'
# shellcheck disable=SC2046 # the command substitution is meant to split into one word per line (ids) or is one word (hex digits)
if ! carotate_client_cert_from /etc/kubernetes/scheduler.conf /etc/kubernetes/pki/ca-new.crt; then
  d=$(mktemp -d) && kubectl config view --raw --kubeconfig /etc/kubernetes/scheduler.conf -o jsonpath='{.users[0].user.client-certificate-data}' | base64 -d >"$d/client.crt" && kubectl config view --raw --kubeconfig /etc/kubernetes/scheduler.conf -o jsonpath='{.users[0].user.client-key-data}' | base64 -d >"$d/client.key" && openssl x509 -x509toreq -in "$d/client.crt" -signkey "$d/client.key" -copy_extensions copyall -out "$d/client.csr" && openssl x509 -req -in "$d/client.csr" -CA /etc/kubernetes/pki/ca-new.crt -CAkey /etc/kubernetes/pki/ca-new.key -set_serial 0x$(openssl rand -hex 16) -days 365 -copy_extensions copyall -out "$d/client-new.crt" && kubectl config set-credentials "$(kubectl config view --kubeconfig /etc/kubernetes/scheduler.conf -o jsonpath='{.users[0].name}')" --kubeconfig /etc/kubernetes/scheduler.conf --client-certificate "$d/client-new.crt" --client-key "$d/client.key" --embed-certs && rm -rf "$d"
  carotate_client_cert_from /etc/kubernetes/scheduler.conf /etc/kubernetes/pki/ca-new.crt || carotate_did_not_take
else carotate_already 'Re-issue the client certificate of /etc/kubernetes/scheduler.conf from the new CA (same key, subject and extensions)'; fi

# Back up /etc/kubernetes/admin.conf
# if /etc/kubernetes/admin.conf exists (kubeadm's admin kubeconfig):
if test -e /etc/kubernetes/admin.conf; then
  carotate_step 7 'on cp-1' 'Back up /etc/kubernetes/admin.conf'
  if ! carotate_backed_up /var/backups/carotate-20260101-abcdef/step-7 /etc/kubernetes/admin.conf; then
    test ! -e /etc/kubernetes/admin.conf || { mkdir -p /var/backups/carotate-20260101-abcdef/step-7 && (cd / && cp -a --parents /etc/kubernetes/admin.conf /var/backups/carotate-20260101-abcdef/step-7/); }
    carotate_backed_up /var/backups/carotate-20260101-abcdef/step-7 /etc/kubernetes/admin.conf || carotate_did_not_take
  else carotate_already 'Back up /etc/kubernetes/admin.conf'; fi
else carotate_say "step 7 on cp-1: skipped, it applies if /etc/kubernetes/admin.conf exists (kubeadm's admin kubeconfig)"; fi

# Set certificate-authority-data in /etc/kubernetes/admin.conf to the bundle:
# new CA, then old
# if /etc/kubernetes/admin.conf exists (kubeadm's admin kubeconfig):
if test -f /etc/kubernetes/admin.conf; then
  carotate_step 7 'on cp-1' 'Set certificate-authority-data in /etc/kubernetes/admin.conf to the bundle: new CA, then old'
  if ! carotate_kubeconfig_ca /etc/kubernetes/admin.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c a9ae0942a2c3379ce7f6e2fcae654d6fac08c2246ec12ab389e8e19a4f0ba0f1; then
    test -f /etc/kubernetes/admin.conf && sed -i 's|certificate-authority-data: .*|certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJtVENDQVQrZ0F3SUJBZ0lVVnZtTU92V3IwSTFSRGVreXA5bXFTd2Z6ZnBNd0NnWUlLb1pJemowRUF3SXcKR1RFWE1CVUdBMVVFQXd3T2EzVmlaWEp1WlhSbGN5MXVaWGN3SUJjTk1qWXhNakF5TVRreE1qRTVXaGdQTWpFeQpOakV4TURneE9URXlNVGxhTUJreEZ6QVZCZ05WQkFNTURtdDFZbVZ5Ym1WMFpYTXRibVYzTUZrd0V3WUhLb1pJCnpqMENBUVlJS29aSXpqMERBUWNEUWdBRTVUL0xQOVhEZS8xOXdrMUxQQkJQRWxPZFp5b1N1OStZNWRvcGk2dWoKTDVsMW5aeXprMEYwWk02aHQwdkMwY24wWXNrRFNhdGpDRkJ4WHhxYWxqVzV6YU5qTUdFd0hRWURWUjBPQkJZRQpGTzNnOFpMUFUvWnh2MGZOczA4N0s0cDFKZExDTUI4R0ExVWRJd1FZTUJhQUZPM2c4WkxQVS9aeHYwZk5zMDg3Cks0cDFKZExDTUE4R0ExVWRFd0VCL3dRRk1BTUJBZjh3RGdZRFZSMFBBUUgvQkFRREFnRUdNQW9HQ0NxR1NNNDkKQkFNQ0EwZ0FNRVVDSUJONU9yL2VlN0NNTkw4N1ZpN0p4Y1lzbmFHcmxSOVFCUlZnaHBtcCtMYitBaUVBOUdlRQpRcHEwNFlVektVWmFLTkl4ZjlLYnNYc1RXNnNPYytVRmZqbW9GR2c9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0KLS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJrakNDQVRlZ0F3SUJBZ0lVWk5WZGRleDg2UUE5Y1RFL2ZjeCtRS2x0bjJRd0NnWUlLb1pJemowRUF3SXcKRlRFVE1CRUdBMVVFQXd3S2EzVmlaWEp1WlhSbGN6QWdGdzB5TmpFeU1ESXhPVEV5TVRsYUdBOHlNVEkyTVRFdwpPREU1TVRJeE9Wb3dGVEVUTUJFR0ExVUVBd3dLYTNWaVpYSnVaWFJsY3pCWk1CTUdCeXFHU000OUFnRUdDQ3FHClNNNDlBd0VIQTBJQUJDUmhmbyt5U084WDJRSlBoYStFclNmZ0lqTkJIZnpPV2RxVk9LZDQva1BuL1hGNFRWUTQKMFQ0WGdxaUZnMHgxYmlTd1pkd1QzYlFleDV0aVRna1R4a09qWXpCaE1CMEdBMVVkRGdRV0JCVDJ0UEFwNzl1cApyc1FBMmcyWURQbHdXRUFaOXpBZkJnTlZIU01FR0RBV2dCVDJ0UEFwNzl1cHJzUUEyZzJZRFBsd1dFQVo5ekFQCkJnTlZIUk1CQWY4RUJUQURBUUgvTUE0R0ExVWREd0VCL3dRRUF3SUJCakFLQmdncWhrak9QUVFEQWdOSkFEQkcKQWlFQTNNbU5WcHFzOEg5Uklwc1hldlM3MGl4dnA2QTBlTzVaU084bWk2Wi9wVUFDSVFDSlVpdHZIV21uZXZWOQp4OVJoUFpZdEZoTVIrbzZvbXpWMGhicjRQUXM5UGc9PQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==|' /etc/kubernetes/admin.conf
    carotate_kubeconfig_ca /etc/kubernetes/admin.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c a9ae0942a2c3379ce7f6e2fcae654d6fac08c2246ec12ab389e8e19a4f0ba0f1 || carotate_did_not_take
  else carotate_already 'Set certificate-authority-data in /etc/kubernetes/admin.conf to the bundle: new CA, then old'; fi
else carotate_say "step 7 on cp-1: skipped, it applies if /etc/kubernetes/admin.conf exists (kubeadm's admin kubeconfig)"; fi

# Re-issue the client certificate of /etc/kubernetes/admin.conf from the new
# CA (same key, subject and extensions)
# if /etc/kubernetes/admin.conf exists (kubeadm's admin kubeconfig):
#   needs OpenSSL 3 (-copy_extensions); a client certificate from the old CA
#   stops working at step 12.2
# shellcheck disable=SC2046 # the command substitution is meant to split into one word per line (ids) or is one word (hex digits)
if test -f /etc/kubernetes/admin.conf; then
  carotate_step 7 'on cp-1' 'Re-issue the client certificate of /etc/kubernetes/admin.conf from the new CA (same key, subject and extensions)'
  if ! carotate_client_cert_from /etc/kubernetes/admin.conf /etc/kubernetes/pki/ca-new.crt; then
    test -f /etc/kubernetes/admin.conf && d=$(mktemp -d) && kubectl config view --raw --kubeconfig /etc/kubernetes/admin.conf -o jsonpath='{.users[0].user.client-certificate-data}' | base64 -d >"$d/client.crt" && kubectl config view --raw --kubeconfig /etc/kubernetes/admin.conf -o jsonpath='{.users[0].user.client-key-data}' | base64 -d >"$d/client.key" && openssl x509 -x509toreq -in "$d/client.crt" -signkey "$d/client.key" -copy_extensions copyall -out "$d/client.csr" && openssl x509 -req -in "$d/client.csr" -CA /etc/kubernetes/pki/ca-new.crt -CAkey /etc/kubernetes/pki/ca-new.key -set_serial 0x$(openssl rand -hex 16) -days 365 -copy_extensions copyall -out "$d/client-new.crt" && kubectl config set-credentials "$(kubectl config view --kubeconfig /etc/kubernetes/admin.conf -o jsonpath='{.users[0].name}')" --kubeconfig /etc/kubernetes/admin.conf --client-certificate "$d/client-new.crt" --client-key "$d/client.key" --embed-certs && rm -rf "$d"
    carotate_client_cert_from /etc/kubernetes/admin.conf /etc/kubernetes/pki/ca-new.crt || carotate_did_not_take
  else carotate_already 'Re-issue the client certificate of /etc/kubernetes/admin.conf from the new CA (same key, subject and extensions)'; fi
else carotate_say "step 7 on cp-1: skipped, it applies if /etc/kubernetes/admin.conf exists (kubeadm's admin kubeconfig)"; fi

# Back up /etc/kubernetes/super-admin.conf
# if /etc/kubernetes/super-admin.conf exists (kubeadm's admin kubeconfig):
if test -e /etc/kubernetes/super-admin.conf; then
  carotate_step 7 'on cp-1' 'Back up /etc/kubernetes/super-admin.conf'
  if ! carotate_backed_up /var/backups/carotate-20260101-abcdef/step-7 /etc/kubernetes/super-admin.conf; then
    test ! -e /etc/kubernetes/super-admin.conf || { mkdir -p /var/backups/carotate-20260101-abcdef/step-7 && (cd / && cp -a --parents /etc/kubernetes/super-admin.conf /var/backups/carotate-20260101-abcdef/step-7/); }
    carotate_backed_up /var/backups/carotate-20260101-abcdef/step-7 /etc/kubernetes/super-admin.conf || carotate_did_not_take
  else carotate_already 'Back up /etc/kubernetes/super-admin.conf'; fi
else carotate_say "step 7 on cp-1: skipped, it applies if /etc/kubernetes/super-admin.conf exists (kubeadm's admin kubeconfig)"; fi

# Set certificate-authority-data in /etc/kubernetes/super-admin.conf to the
# bundle: new CA, then old
# if /etc/kubernetes/super-admin.conf exists (kubeadm's admin kubeconfig):
if test -f /etc/kubernetes/super-admin.conf; then
  carotate_step 7 'on cp-1' 'Set certificate-authority-data in /etc/kubernetes/super-admin.conf to the bundle: new CA, then old'
  if ! carotate_kubeconfig_ca /etc/kubernetes/super-admin.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c a9ae0942a2c3379ce7f6e2fcae654d6fac08c2246ec12ab389e8e19a4f0ba0f1; then
    test -f /etc/kubernetes/super-admin.conf && sed -i 's|certificate-authority-data: .*|certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJtVENDQVQrZ0F3SUJBZ0lVVnZtTU92V3IwSTFSRGVreXA5bXFTd2Z6ZnBNd0NnWUlLb1pJemowRUF3SXcKR1RFWE1CVUdBMVVFQXd3T2EzVmlaWEp1WlhSbGN5MXVaWGN3SUJjTk1qWXhNakF5TVRreE1qRTVXaGdQTWpFeQpOakV4TURneE9URXlNVGxhTUJreEZ6QVZCZ05WQkFNTURtdDFZbVZ5Ym1WMFpYTXRibVYzTUZrd0V3WUhLb1pJCnpqMENBUVlJS29aSXpqMERBUWNEUWdBRTVUL0xQOVhEZS8xOXdrMUxQQkJQRWxPZFp5b1N1OStZNWRvcGk2dWoKTDVsMW5aeXprMEYwWk02aHQwdkMwY24wWXNrRFNhdGpDRkJ4WHhxYWxqVzV6YU5qTUdFd0hRWURWUjBPQkJZRQpGTzNnOFpMUFUvWnh2MGZOczA4N0s0cDFKZExDTUI4R0ExVWRJd1FZTUJhQUZPM2c4WkxQVS9aeHYwZk5zMDg3Cks0cDFKZExDTUE4R0ExVWRFd0VCL3dRRk1BTUJBZjh3RGdZRFZSMFBBUUgvQkFRREFnRUdNQW9HQ0NxR1NNNDkKQkFNQ0EwZ0FNRVVDSUJONU9yL2VlN0NNTkw4N1ZpN0p4Y1lzbmFHcmxSOVFCUlZnaHBtcCtMYitBaUVBOUdlRQpRcHEwNFlVektVWmFLTkl4ZjlLYnNYc1RXNnNPYytVRmZqbW9GR2c9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0KLS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJrakNDQVRlZ0F3SUJBZ0lVWk5WZGRleDg2UUE5Y1RFL2ZjeCtRS2x0bjJRd0NnWUlLb1pJemowRUF3SXcKRlRFVE1CRUdBMVVFQXd3S2EzVmlaWEp1WlhSbGN6QWdGdzB5TmpFeU1ESXhPVEV5TVRsYUdBOHlNVEkyTVRFdwpPREU1TVRJeE9Wb3dGVEVUTUJFR0ExVUVBd3dLYTNWaVpYSnVaWFJsY3pCWk1CTUdCeXFHU000OUFnRUdDQ3FHClNNNDlBd0VIQTBJQUJDUmhmbyt5U084WDJRSlBoYStFclNmZ0lqTkJIZnpPV2RxVk9LZDQva1BuL1hGNFRWUTQKMFQ0WGdxaUZnMHgxYmlTd1pkd1QzYlFleDV0aVRna1R4a09qWXpCaE1CMEdBMVVkRGdRV0JCVDJ0UEFwNzl1cApyc1FBMmcyWURQbHdXRUFaOXpBZkJnTlZIU01FR0RBV2dCVDJ0UEFwNzl1cHJzUUEyZzJZRFBsd1dFQVo5ekFQCkJnTlZIUk1CQWY4RUJUQURBUUgvTUE0R0ExVWREd0VCL3dRRUF3SUJCakFLQmdncWhrak9QUVFEQWdOSkFEQkcKQWlFQTNNbU5WcHFzOEg5Uklwc1hldlM3MGl4dnA2QTBlTzVaU084bWk2Wi9wVUFDSVFDSlVpdHZIV21uZXZWOQp4OVJoUFpZdEZoTVIrbzZvbXpWMGhicjRQUXM5UGc9PQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==|' /etc/kubernetes/super-admin.conf
    carotate_kubeconfig_ca /etc/kubernetes/super-admin.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c a9ae0942a2c3379ce7f6e2fcae654d6fac08c2246ec12ab389e8e19a4f0ba0f1 || carotate_did_not_take
  else carotate_already 'Set certificate-authority-data in /etc/kubernetes/super-admin.conf to the bundle: new CA, then old'; fi
else carotate_say "step 7 on cp-1: skipped, it applies if /etc/kubernetes/super-admin.conf exists (kubeadm's admin kubeconfig)"; fi

# Re-issue the client certificate of /etc/kubernetes/super-admin.conf from the
# new CA (same key, subject and extensions)
# if /etc/kubernetes/super-admin.conf exists (kubeadm's admin kubeconfig):
#   needs OpenSSL 3 (-copy_extensions); a client certificate from the old CA
#   stops working at step 12.2
# shellcheck disable=SC2046 # the command substitution is meant to split into one word per line (ids) or is one word (hex digits)
if test -f /etc/kubernetes/super-admin.conf; then
  carotate_step 7 'on cp-1' 'Re-issue the client certificate of /etc/kubernetes/super-admin.conf from the new CA (same key, subject and extensions)'
  if ! carotate_client_cert_from /etc/kubernetes/super-admin.conf /etc/kubernetes/pki/ca-new.crt; then
    test -f /etc/kubernetes/super-admin.conf && d=$(mktemp -d) && kubectl config view --raw --kubeconfig /etc/kubernetes/super-admin.conf -o jsonpath='{.users[0].user.client-certificate-data}' | base64 -d >"$d/client.crt" && kubectl config view --raw --kubeconfig /etc/kubernetes/super-admin.conf -o jsonpath='{.users[0].user.client-key-data}' | base64 -d >"$d/client.key" && openssl x509 -x509toreq -in "$d/client.crt" -signkey "$d/client.key" -copy_extensions copyall -out "$d/client.csr" && openssl x509 -req -in "$d/client.csr" -CA /etc/kubernetes/pki/ca-new.crt -CAkey /etc/kubernetes/pki/ca-new.key -set_serial 0x$(openssl rand -hex 16) -days 365 -copy_extensions copyall -out "$d/client-new.crt" && kubectl config set-credentials "$(kubectl config view --kubeconfig /etc/kubernetes/super-admin.conf -o jsonpath='{.users[0].name}')" --kubeconfig /etc/kubernetes/super-admin.conf --client-certificate "$d/client-new.crt" --client-key "$d/client.key" --embed-certs && rm -rf "$d"
    carotate_client_cert_from /etc/kubernetes/super-admin.conf /etc/kubernetes/pki/ca-new.crt || carotate_did_not_take
  else carotate_already 'Re-issue the client certificate of /etc/kubernetes/super-admin.conf from the new CA (same key, subject and extensions)'; fi
else carotate_say "step 7 on cp-1: skipped, it applies if /etc/kubernetes/super-admin.conf exists (kubeadm's admin kubeconfig)"; fi

# Restart kube-controller-manager
#   stopping the static pod's sandbox makes the kubelet start it again
carotate_step 7 'on cp-1' 'Restart kube-controller-manager'
# shellcheck disable=SC2046 # the command substitution is meant to split into one word per line (ids) or is one word (hex digits)
if ! carotate_static_pod kube-controller-manager https://127.0.0.1:10257/healthz /etc/kubernetes/controller-manager.conf /etc/kubernetes/scheduler.conf /etc/kubernetes/admin.conf /etc/kubernetes/super-admin.conf; then
  crictl stopp $(crictl pods --name '^kube-controller-manager-' --state ready -q)
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-controller-manager to run again and answer https://127.0.0.1:10257/healthz' carotate_static_pod kube-controller-manager https://127.0.0.1:10257/healthz /etc/kubernetes/controller-manager.conf /etc/kubernetes/scheduler.conf /etc/kubernetes/admin.conf /etc/kubernetes/super-admin.conf
else carotate_already 'kube-controller-manager runs, started after the changes above'; fi

# Restart kube-scheduler
#   stopping the static pod's sandbox makes the kubelet start it again
carotate_step 7 'on cp-1' 'Restart kube-scheduler'
# shellcheck disable=SC2046 # the command substitution is meant to split into one word per line (ids) or is one word (hex digits)
if ! carotate_static_pod kube-scheduler https://127.0.0.1:10259/healthz /etc/kubernetes/controller-manager.conf /etc/kubernetes/scheduler.conf /etc/kubernetes/admin.conf /etc/kubernetes/super-admin.conf; then
  crictl stopp $(crictl pods --name '^kube-scheduler-' --state ready -q)
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-scheduler to run again and answer https://127.0.0.1:10259/healthz' carotate_static_pod kube-scheduler https://127.0.0.1:10259/healthz /etc/kubernetes/controller-manager.conf /etc/kubernetes/scheduler.conf /etc/kubernetes/admin.conf /etc/kubernetes/super-admin.conf
else carotate_already 'kube-scheduler runs, started after the changes above'; fi

##############################################################################
# Step 7 from the workstation: Kubeconfigs: the bundle as
# certificate-authority-data, client certificates from the new CA

# Your kubeconfig: the bundle as certificate-authority-data of cluster
# kubernetes
#   every admin and CI kubeconfig needs the same change, and a client
#   certificate issued by the new CA before step 12.2
carotate_step 7 'from the workstation' 'Your kubeconfig: the bundle as certificate-authority-data of cluster kubernetes'
if ! carotate_kubeconfig_ca '' 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c a9ae0942a2c3379ce7f6e2fcae654d6fac08c2246ec12ab389e8e19a4f0ba0f1; then
  kubectl config set clusters.kubernetes.certificate-authority-data LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJtVENDQVQrZ0F3SUJBZ0lVVnZtTU92V3IwSTFSRGVreXA5bXFTd2Z6ZnBNd0NnWUlLb1pJemowRUF3SXcKR1RFWE1CVUdBMVVFQXd3T2EzVmlaWEp1WlhSbGN5MXVaWGN3SUJjTk1qWXhNakF5TVRreE1qRTVXaGdQTWpFeQpOakV4TURneE9URXlNVGxhTUJreEZ6QVZCZ05WQkFNTURtdDFZbVZ5Ym1WMFpYTXRibVYzTUZrd0V3WUhLb1pJCnpqMENBUVlJS29aSXpqMERBUWNEUWdBRTVUL0xQOVhEZS8xOXdrMUxQQkJQRWxPZFp5b1N1OStZNWRvcGk2dWoKTDVsMW5aeXprMEYwWk02aHQwdkMwY24wWXNrRFNhdGpDRkJ4WHhxYWxqVzV6YU5qTUdFd0hRWURWUjBPQkJZRQpGTzNnOFpMUFUvWnh2MGZOczA4N0s0cDFKZExDTUI4R0ExVWRJd1FZTUJhQUZPM2c4WkxQVS9aeHYwZk5zMDg3Cks0cDFKZExDTUE4R0ExVWRFd0VCL3dRRk1BTUJBZjh3RGdZRFZSMFBBUUgvQkFRREFnRUdNQW9HQ0NxR1NNNDkKQkFNQ0EwZ0FNRVVDSUJONU9yL2VlN0NNTkw4N1ZpN0p4Y1lzbmFHcmxSOVFCUlZnaHBtcCtMYitBaUVBOUdlRQpRcHEwNFlVektVWmFLTkl4ZjlLYnNYc1RXNnNPYytVRmZqbW9GR2c9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0KLS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJrakNDQVRlZ0F3SUJBZ0lVWk5WZGRleDg2UUE5Y1RFL2ZjeCtRS2x0bjJRd0NnWUlLb1pJemowRUF3SXcKRlRFVE1CRUdBMVVFQXd3S2EzVmlaWEp1WlhSbGN6QWdGdzB5TmpFeU1ESXhPVEV5TVRsYUdBOHlNVEkyTVRFdwpPREU1TVRJeE9Wb3dGVEVUTUJFR0ExVUVBd3dLYTNWaVpYSnVaWFJsY3pCWk1CTUdCeXFHU000OUFnRUdDQ3FHClNNNDlBd0VIQTBJQUJDUmhmbyt5U084WDJRSlBoYStFclNmZ0lqTkJIZnpPV2RxVk9LZDQva1BuL1hGNFRWUTQKMFQ0WGdxaUZnMHgxYmlTd1pkd1QzYlFleDV0aVRna1R4a09qWXpCaE1CMEdBMVVkRGdRV0JCVDJ0UEFwNzl1cApyc1FBMmcyWURQbHdXRUFaOXpBZkJnTlZIU01FR0RBV2dCVDJ0UEFwNzl1cHJzUUEyZzJZRFBsd1dFQVo5ekFQCkJnTlZIUk1CQWY4RUJUQURBUUgvTUE0R0ExVWREd0VCL3dRRUF3SUJCakFLQmdncWhrak9QUVFEQWdOSkFEQkcKQWlFQTNNbU5WcHFzOEg5Uklwc1hldlM3MGl4dnA2QTBlTzVaU084bWk2Wi9wVUFDSVFDSlVpdHZIV21uZXZWOQp4OVJoUFpZdEZoTVIrbzZvbXpWMGhicjRQUXM5UGc9PQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==
  carotate_kubeconfig_ca '' 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c a9ae0942a2c3379ce7f6e2fcae654d6fac08c2246ec12ab389e8e19a4f0ba0f1 || carotate_did_not_take
else carotate_already 'Your kubeconfig: the bundle as certificate-authority-data of cluster kubernetes'; fi

##############################################################################
# Step 8 from the workstation: cloud-controller-manager: the bundle as
# --root-ca-file

# nothing to do: no cloud-controller-manager found (no static pod, Deployment
# or DaemonSet labelled or named cloud-controller-manager)
carotate_say 'step 8 from the workstation: nothing to do: no cloud-controller-manager found (no static pod, Deployment or DaemonSet labelled or named cloud-controller-manager)'

##############################################################################
# Step 9.1 from the workstation: Restart aggregated API servers and webhook
# handlers

# Roll the servers behind webhook ValidatingWebhookConfiguration
# policy/check.example.com -> service policy-webhook
#   the same pass value as step 4: what step 4 rolled already is not rolled
#   again
carotate_step 9.1 'from the workstation' 'Roll the servers behind webhook ValidatingWebhookConfiguration policy/check.example.com -> service policy-webhook'
kubectl carotate restart-workloads -n policy --value 20260101-abcdef/bundle --wait

carotate_say 'done: phase bundle on cp-1 and the workstation'
