#!/usr/bin/env bash
# kubectl carotate instructions -o script --phase serve (rotation
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
carotate_on_node master-0
carotate_need crictl curl kubectl openssl systemctl
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
# Step 9.2 on master-0: Kubelets: the bundle in clientCAFile and kubelet.conf,
# a client certificate from the new CA, restart node by node

# Back up /var/lib/kubelet/config.yaml
carotate_step 9.2 'on master-0' 'Back up /var/lib/kubelet/config.yaml'
if ! carotate_backed_up /var/backups/carotate-20260102-123456/step-9.2 /var/lib/kubelet/config.yaml; then
  mkdir -p /var/backups/carotate-20260102-123456/step-9.2 && (cd / && cp -a --parents /var/lib/kubelet/config.yaml /var/backups/carotate-20260102-123456/step-9.2/)
  carotate_backed_up /var/backups/carotate-20260102-123456/step-9.2 /var/lib/kubelet/config.yaml || carotate_did_not_take
else carotate_already 'Back up /var/lib/kubelet/config.yaml'; fi

# Back up /etc/kubernetes/kubelet.conf
carotate_step 9.2 'on master-0' 'Back up /etc/kubernetes/kubelet.conf'
if ! carotate_backed_up /var/backups/carotate-20260102-123456/step-9.2 /etc/kubernetes/kubelet.conf; then
  mkdir -p /var/backups/carotate-20260102-123456/step-9.2 && (cd / && cp -a --parents /etc/kubernetes/kubelet.conf /var/backups/carotate-20260102-123456/step-9.2/)
  carotate_backed_up /var/backups/carotate-20260102-123456/step-9.2 /etc/kubernetes/kubelet.conf || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/kubelet.conf'; fi

# Back up /var/lib/kubelet/pki
carotate_step 9.2 'on master-0' 'Back up /var/lib/kubelet/pki'
if ! carotate_backed_up /var/backups/carotate-20260102-123456/step-9.2 /var/lib/kubelet/pki; then
  mkdir -p /var/backups/carotate-20260102-123456/step-9.2 && (cd / && cp -a --parents /var/lib/kubelet/pki /var/backups/carotate-20260102-123456/step-9.2/)
  carotate_backed_up /var/backups/carotate-20260102-123456/step-9.2 /var/lib/kubelet/pki || carotate_did_not_take
else carotate_already 'Back up /var/lib/kubelet/pki'; fi

# Request a client certificate for the kubelet of master-0 with its current
# key (CertificateSigningRequest carotate-20260102-123456-master-0)
#   the kubelet rotates its client certificate (rotateCertificates: true), but
#   only at 70-90% of its lifetime, which may come after step 12.2: then its
#   node goes NotReady with 401s. Renewed through a CSR with the kubelet's
#   current key and credentials, which work until step 12.2 (not a bootstrap
#   token: kubeadm deletes bootstrap-kubelet.conf after the join); the
#   controller-manager signs it with the new CA since step 2
carotate_step 9.2 'on master-0' 'Request a client certificate for the kubelet of master-0 with its current key (CertificateSigningRequest carotate-20260102-123456-master-0)'
mkdir -p /var/lib/carotate/20260102-123456 && kubectl config view --raw --flatten --minify --kubeconfig /etc/kubernetes/kubelet.conf -o jsonpath='{.users[0].user.client-key-data}' | base64 -d | openssl req -new -key /dev/stdin -subj /O=system:nodes/CN=system:node:master-0 -out /var/lib/carotate/20260102-123456/kubelet-client.csr && { kubectl --kubeconfig /etc/kubernetes/kubelet.conf get csr carotate-20260102-123456-master-0 >/dev/null 2>&1 || printf '{"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest","metadata":{"name":"carotate-20260102-123456-master-0"},"spec":{"signerName":"kubernetes.io/kube-apiserver-client-kubelet","usages":["digital signature","client auth"],"request":"%s"}}' "$(base64 -w0 /var/lib/carotate/20260102-123456/kubelet-client.csr)" | kubectl --kubeconfig /etc/kubernetes/kubelet.conf create -f -; }

##############################################################################
# Step 9.2 from the workstation: Kubelets: the bundle in clientCAFile and
# kubelet.conf, a client certificate from the new CA, restart node by node

# Approve carotate-20260102-123456-master-0 once it shows to come from the
# kubelet of master-0 for its own name
#   kube-controller-manager approves it by itself where kubelets may renew
#   their own certificates (kubeadm's
#   kubeadm:node-autoapprove-certificate-rotation); approving twice changes
#   nothing
carotate_step 9.2 'from the workstation' 'Approve carotate-20260102-123456-master-0 once it shows to come from the kubelet of master-0 for its own name'
test "$(kubectl get csr carotate-20260102-123456-master-0 -o jsonpath='{.spec.username}')" = system:node:master-0 && kubectl get csr carotate-20260102-123456-master-0 -o jsonpath='{.spec.request}' | base64 -d | openssl req -noout -subject -nameopt compat | grep -qx subject=/O=system:nodes/CN=system:node:master-0 && kubectl certificate approve carotate-20260102-123456-master-0

##############################################################################
# Step 9.2 on master-0: Kubelets: the bundle in clientCAFile and kubelet.conf,
# a client certificate from the new CA, restart node by node

# The bundle for the kubelet, beside kubelet-client-ca.crt
carotate_step 9.2 'on master-0' 'The bundle for the kubelet, beside kubelet-client-ca.crt'
if ! carotate_certs /srv/k8s/pki/kubelet-client-ca-bundle.crt 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c a9ae0942a2c3379ce7f6e2fcae654d6fac08c2246ec12ab389e8e19a4f0ba0f1; then
  cat >/srv/k8s/pki/kubelet-client-ca-bundle.crt <<'EOF'
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
  chmod 0644 /srv/k8s/pki/kubelet-client-ca-bundle.crt
  carotate_certs /srv/k8s/pki/kubelet-client-ca-bundle.crt 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c a9ae0942a2c3379ce7f6e2fcae654d6fac08c2246ec12ab389e8e19a4f0ba0f1 || carotate_did_not_take
else carotate_already 'The bundle for the kubelet, beside kubelet-client-ca.crt'; fi

# kubelet: clientCAFile: /srv/k8s/pki/kubelet-client-ca-bundle.crt
carotate_step 9.2 'on master-0' 'kubelet: clientCAFile: /srv/k8s/pki/kubelet-client-ca-bundle.crt'
if ! carotate_config_field /var/lib/kubelet/config.yaml clientCAFile /srv/k8s/pki/kubelet-client-ca-bundle.crt; then
  sed -i -E 's|^([[:space:]]*clientCAFile:).*|\1 /srv/k8s/pki/kubelet-client-ca-bundle.crt|' /var/lib/kubelet/config.yaml
  carotate_config_field /var/lib/kubelet/config.yaml clientCAFile /srv/k8s/pki/kubelet-client-ca-bundle.crt || carotate_did_not_take
else carotate_already 'kubelet: clientCAFile: /srv/k8s/pki/kubelet-client-ca-bundle.crt'; fi

# Set certificate-authority-data in /etc/kubernetes/kubelet.conf to the
# bundle: new CA, then old
carotate_step 9.2 'on master-0' 'Set certificate-authority-data in /etc/kubernetes/kubelet.conf to the bundle: new CA, then old'
if ! carotate_kubeconfig_ca /etc/kubernetes/kubelet.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c a9ae0942a2c3379ce7f6e2fcae654d6fac08c2246ec12ab389e8e19a4f0ba0f1; then
  sed -i 's|certificate-authority-data: .*|certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJtVENDQVQrZ0F3SUJBZ0lVVnZtTU92V3IwSTFSRGVreXA5bXFTd2Z6ZnBNd0NnWUlLb1pJemowRUF3SXcKR1RFWE1CVUdBMVVFQXd3T2EzVmlaWEp1WlhSbGN5MXVaWGN3SUJjTk1qWXhNakF5TVRreE1qRTVXaGdQTWpFeQpOakV4TURneE9URXlNVGxhTUJreEZ6QVZCZ05WQkFNTURtdDFZbVZ5Ym1WMFpYTXRibVYzTUZrd0V3WUhLb1pJCnpqMENBUVlJS29aSXpqMERBUWNEUWdBRTVUL0xQOVhEZS8xOXdrMUxQQkJQRWxPZFp5b1N1OStZNWRvcGk2dWoKTDVsMW5aeXprMEYwWk02aHQwdkMwY24wWXNrRFNhdGpDRkJ4WHhxYWxqVzV6YU5qTUdFd0hRWURWUjBPQkJZRQpGTzNnOFpMUFUvWnh2MGZOczA4N0s0cDFKZExDTUI4R0ExVWRJd1FZTUJhQUZPM2c4WkxQVS9aeHYwZk5zMDg3Cks0cDFKZExDTUE4R0ExVWRFd0VCL3dRRk1BTUJBZjh3RGdZRFZSMFBBUUgvQkFRREFnRUdNQW9HQ0NxR1NNNDkKQkFNQ0EwZ0FNRVVDSUJONU9yL2VlN0NNTkw4N1ZpN0p4Y1lzbmFHcmxSOVFCUlZnaHBtcCtMYitBaUVBOUdlRQpRcHEwNFlVektVWmFLTkl4ZjlLYnNYc1RXNnNPYytVRmZqbW9GR2c9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0KLS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJrakNDQVRlZ0F3SUJBZ0lVWk5WZGRleDg2UUE5Y1RFL2ZjeCtRS2x0bjJRd0NnWUlLb1pJemowRUF3SXcKRlRFVE1CRUdBMVVFQXd3S2EzVmlaWEp1WlhSbGN6QWdGdzB5TmpFeU1ESXhPVEV5TVRsYUdBOHlNVEkyTVRFdwpPREU1TVRJeE9Wb3dGVEVUTUJFR0ExVUVBd3dLYTNWaVpYSnVaWFJsY3pCWk1CTUdCeXFHU000OUFnRUdDQ3FHClNNNDlBd0VIQTBJQUJDUmhmbyt5U084WDJRSlBoYStFclNmZ0lqTkJIZnpPV2RxVk9LZDQva1BuL1hGNFRWUTQKMFQ0WGdxaUZnMHgxYmlTd1pkd1QzYlFleDV0aVRna1R4a09qWXpCaE1CMEdBMVVkRGdRV0JCVDJ0UEFwNzl1cApyc1FBMmcyWURQbHdXRUFaOXpBZkJnTlZIU01FR0RBV2dCVDJ0UEFwNzl1cHJzUUEyZzJZRFBsd1dFQVo5ekFQCkJnTlZIUk1CQWY4RUJUQURBUUgvTUE0R0ExVWREd0VCL3dRRUF3SUJCakFLQmdncWhrak9QUVFEQWdOSkFEQkcKQWlFQTNNbU5WcHFzOEg5Uklwc1hldlM3MGl4dnA2QTBlTzVaU084bWk2Wi9wVUFDSVFDSlVpdHZIV21uZXZWOQp4OVJoUFpZdEZoTVIrbzZvbXpWMGhicjRQUXM5UGc9PQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==|' /etc/kubernetes/kubelet.conf
  carotate_kubeconfig_ca /etc/kubernetes/kubelet.conf 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c a9ae0942a2c3379ce7f6e2fcae654d6fac08c2246ec12ab389e8e19a4f0ba0f1 || carotate_did_not_take
else carotate_already 'Set certificate-authority-data in /etc/kubernetes/kubelet.conf to the bundle: new CA, then old'; fi

# The new CA, to check the certificate the request returns
carotate_step 9.2 'on master-0' 'The new CA, to check the certificate the request returns'
if ! carotate_certs /var/lib/carotate/20260102-123456/ca-new.crt 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c; then
  cat >/var/lib/carotate/20260102-123456/ca-new.crt <<'EOF'
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
  chmod 0644 /var/lib/carotate/20260102-123456/ca-new.crt
  carotate_certs /var/lib/carotate/20260102-123456/ca-new.crt 491ed9404f3ebf786cc398d120bc1faaaa7f6a09301a61aefd4759b33ddd3e5c || carotate_did_not_take
else carotate_already 'The new CA, to check the certificate the request returns'; fi

# Install the certificate of carotate-20260102-123456-master-0 as the
# kubelet's client certificate
# (/var/lib/kubelet/pki/kubelet-client-current.pem), with its current key
#   the certificate must verify against the new CA: one from the old CA means
#   the controller-manager does not sign with the new CA yet (step 2)
carotate_step 9.2 'on master-0' "Install the certificate of carotate-20260102-123456-master-0 as the kubelet's client certificate (/var/lib/kubelet/pki/kubelet-client-current.pem), with its current key"
kubectl --kubeconfig /etc/kubernetes/kubelet.conf wait --for=jsonpath='{.status.certificate}' csr/carotate-20260102-123456-master-0 --timeout=300s >/dev/null && kubectl --kubeconfig /etc/kubernetes/kubelet.conf get csr carotate-20260102-123456-master-0 -o jsonpath='{.status.certificate}' | base64 -d >/var/lib/carotate/20260102-123456/kubelet-client.crt && openssl verify -CAfile /var/lib/carotate/20260102-123456/ca-new.crt /var/lib/carotate/20260102-123456/kubelet-client.crt && f=/var/lib/kubelet/pki/kubelet-client-$(date -u +%Y-%m-%d-%H-%M-%S).pem && (umask 077 && { cat /var/lib/carotate/20260102-123456/kubelet-client.crt && kubectl config view --raw --flatten --minify --kubeconfig /etc/kubernetes/kubelet.conf -o jsonpath='{.users[0].user.client-key-data}' | base64 -d | openssl pkey; } >"$f") && ln -sfn "$f" /var/lib/kubelet/pki/kubelet-client-current.pem && kubectl config set-credentials "$(kubectl config view --minify --kubeconfig /etc/kubernetes/kubelet.conf -o jsonpath='{.users[0].name}')" --kubeconfig /etc/kubernetes/kubelet.conf --client-certificate /var/lib/kubelet/pki/kubelet-client-current.pem --client-key /var/lib/kubelet/pki/kubelet-client-current.pem && rm -f /var/lib/carotate/20260102-123456/kubelet-client.csr /var/lib/carotate/20260102-123456/kubelet-client.crt /var/lib/carotate/20260102-123456/ca-new.crt

# Restart the kubelet on master-0
carotate_step 9.2 'on master-0' 'Restart the kubelet on master-0'
if ! carotate_kubelet master-0 /etc/kubernetes/kubelet.conf /srv/k8s/pki/kubelet-client-ca-bundle.crt /var/lib/kubelet/config.yaml /etc/kubernetes/kubelet.conf /var/lib/carotate/20260102-123456/ca-new.crt /var/lib/kubelet/pki/kubelet-client-current.pem; then
  systemctl restart kubelet
  carotate_wait "${CAROTATE_TIMEOUT}" "the kubelet on master-0 to run again and renew its node's Lease" carotate_kubelet master-0 /etc/kubernetes/kubelet.conf /srv/k8s/pki/kubelet-client-ca-bundle.crt /var/lib/kubelet/config.yaml /etc/kubernetes/kubelet.conf /var/lib/carotate/20260102-123456/ca-new.crt /var/lib/kubelet/pki/kubelet-client-current.pem
else carotate_already 'kubelet runs, started after the changes above'; fi

##############################################################################
# Step 9.3 on master-0: API servers serve certificates signed by the new CA;
# restart the scheduler

# Back up /etc/kubernetes/manifests/kube-apiserver.yaml
carotate_step 9.3 'on master-0' 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'
if ! carotate_backed_up /var/backups/carotate-20260102-123456/step-9.3 /etc/kubernetes/manifests/kube-apiserver.yaml; then
  mkdir -p /var/backups/carotate-20260102-123456/step-9.3 && (cd / && cp -a --parents /etc/kubernetes/manifests/kube-apiserver.yaml /var/backups/carotate-20260102-123456/step-9.3/)
  carotate_backed_up /var/backups/carotate-20260102-123456/step-9.3 /etc/kubernetes/manifests/kube-apiserver.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'; fi

# Issue apiserver-new.crt from the new CA (same key, subject and extensions as
# apiserver.crt)
#   needs OpenSSL 3 (-copy_extensions)
carotate_step 9.3 'on master-0' 'Issue apiserver-new.crt from the new CA (same key, subject and extensions as apiserver.crt)'
# shellcheck disable=SC2046 # the command substitution is meant to split into one word per line (ids) or is one word (hex digits)
if ! carotate_issued /srv/k8s/pki/apiserver-new.crt /srv/k8s/pki/ca-new.crt /srv/k8s/pki/apiserver.key; then
  openssl x509 -x509toreq -in /srv/k8s/pki/apiserver.crt -signkey /srv/k8s/pki/apiserver.key -copy_extensions copyall -out /srv/k8s/pki/apiserver-new.crt.csr && openssl x509 -req -in /srv/k8s/pki/apiserver-new.crt.csr -CA /srv/k8s/pki/ca-new.crt -CAkey /srv/k8s/pki/ca-new.key -set_serial 0x$(openssl rand -hex 16) -days 365 -copy_extensions copyall -out /srv/k8s/pki/apiserver-new.crt && rm /srv/k8s/pki/apiserver-new.crt.csr
  carotate_issued /srv/k8s/pki/apiserver-new.crt /srv/k8s/pki/ca-new.crt /srv/k8s/pki/apiserver.key || carotate_did_not_take
else carotate_already 'Issue apiserver-new.crt from the new CA (same key, subject and extensions as apiserver.crt)'; fi

# Issue front-proxy-client-new.crt from the new front-proxy CA (same key,
# subject and extensions as front-proxy-client.crt)
#   needs OpenSSL 3 (-copy_extensions)
carotate_step 9.3 'on master-0' 'Issue front-proxy-client-new.crt from the new front-proxy CA (same key, subject and extensions as front-proxy-client.crt)'
# shellcheck disable=SC2046 # the command substitution is meant to split into one word per line (ids) or is one word (hex digits)
if ! carotate_issued /srv/k8s/pki/front-proxy-client-new.crt /srv/k8s/pki/front-proxy-ca-new.crt /srv/k8s/pki/front-proxy-client.key; then
  openssl x509 -x509toreq -in /srv/k8s/pki/front-proxy-client.crt -signkey /srv/k8s/pki/front-proxy-client.key -copy_extensions copyall -out /srv/k8s/pki/front-proxy-client-new.crt.csr && openssl x509 -req -in /srv/k8s/pki/front-proxy-client-new.crt.csr -CA /srv/k8s/pki/front-proxy-ca-new.crt -CAkey /srv/k8s/pki/front-proxy-ca-new.key -set_serial 0x$(openssl rand -hex 16) -days 365 -copy_extensions copyall -out /srv/k8s/pki/front-proxy-client-new.crt && rm /srv/k8s/pki/front-proxy-client-new.crt.csr
  carotate_issued /srv/k8s/pki/front-proxy-client-new.crt /srv/k8s/pki/front-proxy-ca-new.crt /srv/k8s/pki/front-proxy-client.key || carotate_did_not_take
else carotate_already 'Issue front-proxy-client-new.crt from the new front-proxy CA (same key, subject and extensions as front-proxy-client.crt)'; fi

# kube-apiserver: --tls-cert-file=/srv/k8s/pki/apiserver-new.crt
carotate_step 9.3 'on master-0' 'kube-apiserver: --tls-cert-file=/srv/k8s/pki/apiserver-new.crt'
if ! carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --tls-cert-file /srv/k8s/pki/apiserver-new.crt; then
  sed -i -e 's|- --tls-cert-file=.*|- --tls-cert-file=/srv/k8s/pki/apiserver-new.crt|' /etc/kubernetes/manifests/kube-apiserver.yaml
  carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --tls-cert-file /srv/k8s/pki/apiserver-new.crt || carotate_did_not_take
else carotate_already 'kube-apiserver: --tls-cert-file=/srv/k8s/pki/apiserver-new.crt'; fi

# kube-apiserver:
# --proxy-client-cert-file=/srv/k8s/pki/front-proxy-client-new.crt
carotate_step 9.3 'on master-0' 'kube-apiserver: --proxy-client-cert-file=/srv/k8s/pki/front-proxy-client-new.crt'
if ! carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --proxy-client-cert-file /srv/k8s/pki/front-proxy-client-new.crt; then
  sed -i -e 's|- --proxy-client-cert-file=.*|- --proxy-client-cert-file=/srv/k8s/pki/front-proxy-client-new.crt|' /etc/kubernetes/manifests/kube-apiserver.yaml
  carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --proxy-client-cert-file /srv/k8s/pki/front-proxy-client-new.crt || carotate_did_not_take
else carotate_already 'kube-apiserver: --proxy-client-cert-file=/srv/k8s/pki/front-proxy-client-new.crt'; fi

# Wait for kube-apiserver to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running; every client must trust the new CA
#   before this restart (steps 7 and 9.2)
carotate_step 9.3 'on master-0' 'Wait for kube-apiserver to restart'
if ! carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /srv/k8s/pki/apiserver-new.crt /srv/k8s/pki/front-proxy-client-new.crt /etc/kubernetes/manifests/kube-apiserver.yaml; then
  crictl ps --name '^kube-apiserver$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-apiserver to run again and answer https://127.0.0.1:6443/readyz' carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /srv/k8s/pki/apiserver-new.crt /srv/k8s/pki/front-proxy-client-new.crt /etc/kubernetes/manifests/kube-apiserver.yaml
else carotate_already 'kube-apiserver runs, started after the changes above'; fi

# Restart kube-scheduler
#   stopping the static pod's sandbox makes the kubelet start it again
carotate_step 9.3 'on master-0' 'Restart kube-scheduler'
# shellcheck disable=SC2046 # the command substitution is meant to split into one word per line (ids) or is one word (hex digits)
if ! carotate_static_pod kube-scheduler https://127.0.0.1:10259/healthz /srv/k8s/pki/apiserver-new.crt /srv/k8s/pki/front-proxy-client-new.crt /etc/kubernetes/manifests/kube-apiserver.yaml; then
  crictl stopp $(crictl pods --name '^kube-scheduler-' --state ready -q)
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-scheduler to run again and answer https://127.0.0.1:10259/healthz' carotate_static_pod kube-scheduler https://127.0.0.1:10259/healthz /srv/k8s/pki/apiserver-new.crt /srv/k8s/pki/front-proxy-client-new.crt /etc/kubernetes/manifests/kube-apiserver.yaml
else carotate_already 'kube-scheduler runs, started after the changes above'; fi

##############################################################################
# Step 9.4 from the workstation: Roll every workload once more

# Roll every workload once more, now that the API servers serve from the new
# CA
carotate_step 9.4 'from the workstation' 'Roll every workload once more, now that the API servers serve from the new CA'
kubectl carotate restart-workloads --value 20260102-123456/serve --wait

##############################################################################
# Step 10 from the workstation: The new CA in kube-public/cluster-info

# nothing to do: kube-public/cluster-info does not exist: nodes do not join
# with bootstrap tokens here
carotate_say 'step 10 from the workstation: nothing to do: kube-public/cluster-info does not exist: nodes do not join with bootstrap tokens here'

##############################################################################
# Step 11 from the workstation: Verify: no TLS errors anywhere

# Check that everything trusts the new CA and no component logs TLS errors
carotate_step 11 'from the workstation' 'Check that everything trusts the new CA and no component logs TLS errors'
kubectl carotate verify --ca ca-bundle.crt --expect bundle

carotate_say 'done: phase serve on master-0 and the workstation'
