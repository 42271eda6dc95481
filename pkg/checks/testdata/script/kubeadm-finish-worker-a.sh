#!/usr/bin/env bash
# kubectl carotate instructions -o script --phase finish (rotation
# 20260101-abcdef): the steps of node worker-a.
# Run it as root on worker-a.
#
# Each step runs only if its check shows it is not done, and its check must
# pass after it: the script stops at the first step that did not take, saying
# why, and a re-run resumes there without doing anything twice. Waits poll
# every 2 s and give up after CAROTATE_TIMEOUT seconds (default 300).
# CAROTATE_SHOW=1 prints each command before it runs.
#
# Other nodes have steps here, done by their own scripts; the script with the
# workstation steps (without --node) waits for each at its turn. Print them
# with:
#   kubectl carotate instructions -o script --phase finish --node cp-1
#   kubectl carotate instructions -o script --phase finish --node worker-b
#
# Golden note: paths for kubeadm.
set -euo pipefail
set -o errtrace

# (the helpers of pkg/checks/scripthelpers.sh)

# The rotation, and what every step needs before the first one runs.
carotate_rotation=20260101-abcdef
: "${CAROTATE_TIMEOUT:=300}"
carotate_on_node worker-a
carotate_need kubectl openssl systemctl
carotate_say 'steps of node cp-1 are in its own script: kubectl carotate instructions -o script --phase finish --node cp-1'
carotate_say 'steps of node worker-b are in its own script: kubectl carotate instructions -o script --phase finish --node worker-b'


##############################################################################
# Step 12.1 on cp-1: ServiceAccount root CA: the new CA alone; restart
# in-cluster clients
# Node cp-1's steps: its own script does them.

##############################################################################
# Step 12.1 from the workstation: ServiceAccount root CA: the new CA alone;
# restart in-cluster clients
# Workstation steps: not in this script (print it without --node to run them).

##############################################################################
# Step 12.2 on cp-1: Remove the old CA from kubeconfigs and control-plane
# files; restart the control plane
# Node cp-1's steps: its own script does them.

##############################################################################
# Step 12.2 from the workstation: Remove the old CA from kubeconfigs and
# control-plane files; restart the control plane
# Workstation steps: not in this script (print it without --node to run them).

##############################################################################
# Step 12.3 on cp-1: Kubelets: remove the old CA, restart node by node
# Node cp-1's steps: its own script does them.

##############################################################################
# Step 12.3 on worker-a: Kubelets: remove the old CA, restart node by node

# Back up /var/lib/kubelet/config.yaml
carotate_step 12.3 'on worker-a' 'Back up /var/lib/kubelet/config.yaml'
if ! carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.3 /var/lib/kubelet/config.yaml; then
  mkdir -p /var/backups/carotate-20260101-abcdef/step-12.3 && (cd / && cp -a --parents /var/lib/kubelet/config.yaml /var/backups/carotate-20260101-abcdef/step-12.3/)
  carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.3 /var/lib/kubelet/config.yaml || carotate_did_not_take
else carotate_already 'Back up /var/lib/kubelet/config.yaml'; fi

# Back up /etc/kubernetes/kubelet.conf
carotate_step 12.3 'on worker-a' 'Back up /etc/kubernetes/kubelet.conf'
if ! carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.3 /etc/kubernetes/kubelet.conf; then
  mkdir -p /var/backups/carotate-20260101-abcdef/step-12.3 && (cd / && cp -a --parents /etc/kubernetes/kubelet.conf /var/backups/carotate-20260101-abcdef/step-12.3/)
  carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.3 /etc/kubernetes/kubelet.conf || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/kubelet.conf'; fi

# Back up /etc/kubernetes/pki/ca.crt
carotate_step 12.3 'on worker-a' 'Back up /etc/kubernetes/pki/ca.crt'
if ! carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.3 /etc/kubernetes/pki/ca.crt; then
  mkdir -p /var/backups/carotate-20260101-abcdef/step-12.3 && (cd / && cp -a --parents /etc/kubernetes/pki/ca.crt /var/backups/carotate-20260101-abcdef/step-12.3/)
  carotate_backed_up /var/backups/carotate-20260101-abcdef/step-12.3 /etc/kubernetes/pki/ca.crt || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/pki/ca.crt'; fi

# The new CA alone, into the original ca.crt
carotate_step 12.3 'on worker-a' 'The new CA alone, into the original ca.crt'
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

# kubelet: clientCAFile: /etc/kubernetes/pki/ca.crt
carotate_step 12.3 'on worker-a' 'kubelet: clientCAFile: /etc/kubernetes/pki/ca.crt'
if ! carotate_config_field /var/lib/kubelet/config.yaml clientCAFile /etc/kubernetes/pki/ca.crt; then
  sed -i -E 's|^([[:space:]]*clientCAFile:).*|\1 /etc/kubernetes/pki/ca.crt|' /var/lib/kubelet/config.yaml
  carotate_config_field /var/lib/kubelet/config.yaml clientCAFile /etc/kubernetes/pki/ca.crt || carotate_did_not_take
else carotate_already 'kubelet: clientCAFile: /etc/kubernetes/pki/ca.crt'; fi

# Set certificate-authority-data in /etc/kubernetes/kubelet.conf to the new CA
carotate_step 12.3 'on worker-a' 'Set certificate-authority-data in /etc/kubernetes/kubelet.conf to the new CA'
if ! carotate_kubeconfig_ca /etc/kubernetes/kubelet.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c; then
  sed -i 's|certificate-authority-data: .*|certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJtVENDQVQrZ0F3SUJBZ0lVVnZtTU92V3IwSTFSRGVreXA5bXFTd2Z6ZnBNd0NnWUlLb1pJemowRUF3SXcKR1RFWE1CVUdBMVVFQXd3T2EzVmlaWEp1WlhSbGN5MXVaWGN3SUJjTk1qWXhNakF5TVRreE1qRTVXaGdQTWpFeQpOakV4TURneE9URXlNVGxhTUJreEZ6QVZCZ05WQkFNTURtdDFZbVZ5Ym1WMFpYTXRibVYzTUZrd0V3WUhLb1pJCnpqMENBUVlJS29aSXpqMERBUWNEUWdBRTVUL0xQOVhEZS8xOXdrMUxQQkJQRWxPZFp5b1N1OStZNWRvcGk2dWoKTDVsMW5aeXprMEYwWk02aHQwdkMwY24wWXNrRFNhdGpDRkJ4WHhxYWxqVzV6YU5qTUdFd0hRWURWUjBPQkJZRQpGTzNnOFpMUFUvWnh2MGZOczA4N0s0cDFKZExDTUI4R0ExVWRJd1FZTUJhQUZPM2c4WkxQVS9aeHYwZk5zMDg3Cks0cDFKZExDTUE4R0ExVWRFd0VCL3dRRk1BTUJBZjh3RGdZRFZSMFBBUUgvQkFRREFnRUdNQW9HQ0NxR1NNNDkKQkFNQ0EwZ0FNRVVDSUJONU9yL2VlN0NNTkw4N1ZpN0p4Y1lzbmFHcmxSOVFCUlZnaHBtcCtMYitBaUVBOUdlRQpRcHEwNFlVektVWmFLTkl4ZjlLYnNYc1RXNnNPYytVRmZqbW9GR2c9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K|' /etc/kubernetes/kubelet.conf
  carotate_kubeconfig_ca /etc/kubernetes/kubelet.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c || carotate_did_not_take
else carotate_already 'Set certificate-authority-data in /etc/kubernetes/kubelet.conf to the new CA'; fi

# Restart the kubelet on worker-a
carotate_step 12.3 'on worker-a' 'Restart the kubelet on worker-a'
if ! carotate_kubelet worker-a /etc/kubernetes/kubelet.conf /etc/kubernetes/pki/ca.crt /var/lib/kubelet/config.yaml /etc/kubernetes/kubelet.conf; then
  systemctl restart kubelet
  carotate_wait "${CAROTATE_TIMEOUT}" "the kubelet on worker-a to run again and renew its node's Lease" carotate_kubelet worker-a /etc/kubernetes/kubelet.conf /etc/kubernetes/pki/ca.crt /var/lib/kubelet/config.yaml /etc/kubernetes/kubelet.conf
else carotate_already 'kubelet runs, started after the changes above'; fi
# Record on this node's Node object that its part of step 12.3 is done: the
# script with the workstation steps waits for it.
carotate_mark worker-a 12.3 1

##############################################################################
# Step 12.3 on worker-b: Kubelets: remove the old CA, restart node by node
# Node worker-b's steps: its own script does them.

carotate_say 'done: phase finish on worker-a'
