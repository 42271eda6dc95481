#!/usr/bin/env bash
# kubectl carotate instructions -o script --target front-proxy-ca --phase
# bundle (rotation 20261203-f00d01): the steps of node cp-1.
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
carotate_on_node cp-1
carotate_need crictl curl openssl


##############################################################################
# Step 1 on cp-1: kube-apiserver (and the controller-manager) trust the new
# front-proxy CA beside the old: --requestheader-client-ca-file holds both

# Back up /etc/kubernetes/manifests/kube-apiserver.yaml
carotate_step 1 'on cp-1' 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'
if ! carotate_backed_up /var/backups/carotate-20261203-f00d01/step-1 /etc/kubernetes/manifests/kube-apiserver.yaml; then
  mkdir -p /var/backups/carotate-20261203-f00d01/step-1 && (cd / && cp -a --parents /etc/kubernetes/manifests/kube-apiserver.yaml /var/backups/carotate-20261203-f00d01/step-1/)
  carotate_backed_up /var/backups/carotate-20261203-f00d01/step-1 /etc/kubernetes/manifests/kube-apiserver.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'; fi

# The new front-proxy CA alone, beside front-proxy-ca.crt
carotate_step 1 'on cp-1' 'The new front-proxy CA alone, beside front-proxy-ca.crt'
if ! carotate_certs /etc/kubernetes/pki/front-proxy-ca-new.crt 93bf1f099a8d1dbdcb625487be8aeb0114a1d49b0c8ce0a06cd595bac6f0dfdc; then
  cat >/etc/kubernetes/pki/front-proxy-ca-new.crt <<'EOF'
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
  chmod 0644 /etc/kubernetes/pki/front-proxy-ca-new.crt
  carotate_certs /etc/kubernetes/pki/front-proxy-ca-new.crt 93bf1f099a8d1dbdcb625487be8aeb0114a1d49b0c8ce0a06cd595bac6f0dfdc || carotate_did_not_take
else carotate_already 'The new front-proxy CA alone, beside front-proxy-ca.crt'; fi

# The front-proxy bundle (new, then old), beside front-proxy-ca.crt
carotate_step 1 'on cp-1' 'The front-proxy bundle (new, then old), beside front-proxy-ca.crt'
if ! carotate_certs /etc/kubernetes/pki/front-proxy-ca-bundle.crt 93bf1f099a8d1dbdcb625487be8aeb0114a1d49b0c8ce0a06cd595bac6f0dfdc 432631a2553248011eb8a558877f776c0ef6a2537f0211381fa11f0ac2e9658c; then
  cat >/etc/kubernetes/pki/front-proxy-ca-bundle.crt <<'EOF'
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
-----BEGIN CERTIFICATE-----
MIIBmTCCAT+gAwIBAgIUXNXdAqIU5OvkSmC8IlKk4jzGWN0wCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOZnJvbnQtcHJveHktY2EwIBcNMjYxMjAyMTkxMjE5WhgPMjEy
NjExMDgxOTEyMTlaMBkxFzAVBgNVBAMMDmZyb250LXByb3h5LWNhMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAEYECpqQNqvy+86YRNyhbSCjC34lbE9xXksTQGmDQu
0N6OZR69TJpwh6nM0r1cRFQ3+aQDdIlMBzwfgyByjZkOdKNjMGEwHQYDVR0OBBYE
FFv/IYXyGj1UAtp6+f26iQjkPjq5MB8GA1UdIwQYMBaAFFv/IYXyGj1UAtp6+f26
iQjkPjq5MA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgEGMAoGCCqGSM49
BAMCA0gAMEUCIGU5par3IpbiG9rqtXGKqMMd4nxqscjhOOmKMFpOasWMAiEArJKU
qqn8pKyluohWXTMpdqX+HbcNKmXfzkQn8pFZrYk=
-----END CERTIFICATE-----
EOF
  chmod 0644 /etc/kubernetes/pki/front-proxy-ca-bundle.crt
  carotate_certs /etc/kubernetes/pki/front-proxy-ca-bundle.crt 93bf1f099a8d1dbdcb625487be8aeb0114a1d49b0c8ce0a06cd595bac6f0dfdc 432631a2553248011eb8a558877f776c0ef6a2537f0211381fa11f0ac2e9658c || carotate_did_not_take
else carotate_already 'The front-proxy bundle (new, then old), beside front-proxy-ca.crt'; fi

# kube-apiserver:
# --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca-bundle.crt
# (front-proxy bundle)
carotate_step 1 'on cp-1' 'kube-apiserver: --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca-bundle.crt (front-proxy bundle)'
if ! carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --requestheader-client-ca-file /etc/kubernetes/pki/front-proxy-ca-bundle.crt; then
  sed -i -e 's|- --requestheader-client-ca-file=.*|- --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca-bundle.crt|' /etc/kubernetes/manifests/kube-apiserver.yaml
  carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --requestheader-client-ca-file /etc/kubernetes/pki/front-proxy-ca-bundle.crt || carotate_did_not_take
else carotate_already 'kube-apiserver: --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca-bundle.crt (front-proxy bundle)'; fi

# Wait for kube-apiserver to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running; kube-apiserver then publishes both
#   front-proxy CAs in kube-system/extension-apiserver-authentication, where
#   aggregated API servers read them; with several API servers do one node at
#   a time
carotate_step 1 'on cp-1' 'Wait for kube-apiserver to restart'
if ! carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /etc/kubernetes/pki/front-proxy-ca-new.crt /etc/kubernetes/pki/front-proxy-ca-bundle.crt /etc/kubernetes/manifests/kube-apiserver.yaml; then
  crictl ps --name '^kube-apiserver$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-apiserver to run again and answer https://127.0.0.1:6443/readyz' carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /etc/kubernetes/pki/front-proxy-ca-new.crt /etc/kubernetes/pki/front-proxy-ca-bundle.crt /etc/kubernetes/manifests/kube-apiserver.yaml
else carotate_already 'kube-apiserver runs, started after the changes above'; fi

# Back up /etc/kubernetes/manifests/kube-controller-manager.yaml
carotate_step 1 'on cp-1' 'Back up /etc/kubernetes/manifests/kube-controller-manager.yaml'
if ! carotate_backed_up /var/backups/carotate-20261203-f00d01/step-1 /etc/kubernetes/manifests/kube-controller-manager.yaml; then
  mkdir -p /var/backups/carotate-20261203-f00d01/step-1 && (cd / && cp -a --parents /etc/kubernetes/manifests/kube-controller-manager.yaml /var/backups/carotate-20261203-f00d01/step-1/)
  carotate_backed_up /var/backups/carotate-20261203-f00d01/step-1 /etc/kubernetes/manifests/kube-controller-manager.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/kube-controller-manager.yaml'; fi

# kube-controller-manager:
# --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca-bundle.crt
# (front-proxy bundle)
#   moved off front-proxy-ca.crt so that step 3 can write the new CA into it
#   while nothing reads it
carotate_step 1 'on cp-1' 'kube-controller-manager: --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca-bundle.crt (front-proxy bundle)'
if ! carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --requestheader-client-ca-file /etc/kubernetes/pki/front-proxy-ca-bundle.crt; then
  sed -i -e 's|- --requestheader-client-ca-file=.*|- --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca-bundle.crt|' /etc/kubernetes/manifests/kube-controller-manager.yaml
  carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --requestheader-client-ca-file /etc/kubernetes/pki/front-proxy-ca-bundle.crt || carotate_did_not_take
else carotate_already 'kube-controller-manager: --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca-bundle.crt (front-proxy bundle)'; fi

# Wait for kube-controller-manager to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running
carotate_step 1 'on cp-1' 'Wait for kube-controller-manager to restart'
if ! carotate_static_pod kube-controller-manager https://127.0.0.1:10257/healthz /etc/kubernetes/pki/front-proxy-ca-new.crt /etc/kubernetes/pki/front-proxy-ca-bundle.crt /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/manifests/kube-controller-manager.yaml; then
  crictl ps --name '^kube-controller-manager$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-controller-manager to run again and answer https://127.0.0.1:10257/healthz' carotate_static_pod kube-controller-manager https://127.0.0.1:10257/healthz /etc/kubernetes/pki/front-proxy-ca-new.crt /etc/kubernetes/pki/front-proxy-ca-bundle.crt /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/manifests/kube-controller-manager.yaml
else carotate_already 'kube-controller-manager runs, started after the changes above'; fi

carotate_say 'done: target front-proxy-ca --phase bundle on cp-1'
