#!/usr/bin/env bash
# kubectl carotate instructions -o script --target sa-key --phase finish
# (rotation 20261202-5a4e7e): the steps of node cp-1 and the workstation.
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
carotate_content() { # FILE SHA256: the file holds exactly what the step wrote
  if [[ ! -f $1 ]]; then
    carotate_why="$1 does not exist"
    return 1
  fi
  if [[ $(sha256sum <"$1" | cut -d' ' -f1) != "$2" ]]; then
    carotate_why="$1 does not hold what the step writes"
    return 1
  fi
}

# The rotation, and what every step needs before the first one runs.
carotate_rotation=20261202-5a4e7e
: "${CAROTATE_TIMEOUT:=300}"
carotate_on_node cp-1
carotate_need crictl curl kubectl openssl


##############################################################################
# Step 4 from the workstation: The old public key removed; the new key pair
# under the usual file names

# Check that no token signed by the old key is left before the old public key
# goes
carotate_step 4 'from the workstation' 'Check that no token signed by the old key is left before the old public key goes'
kubectl carotate verify --target sa-key

##############################################################################
# Step 4 on cp-1: The old public key removed; the new key pair under the usual
# file names

# Back up /etc/kubernetes/pki/sa.pub
carotate_step 4 'on cp-1' 'Back up /etc/kubernetes/pki/sa.pub'
if ! carotate_backed_up /var/backups/carotate-20261202-5a4e7e/step-4 /etc/kubernetes/pki/sa.pub; then
  mkdir -p /var/backups/carotate-20261202-5a4e7e/step-4 && (cd / && cp -a --parents /etc/kubernetes/pki/sa.pub /var/backups/carotate-20261202-5a4e7e/step-4/)
  carotate_backed_up /var/backups/carotate-20261202-5a4e7e/step-4 /etc/kubernetes/pki/sa.pub || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/pki/sa.pub'; fi

# Back up /etc/kubernetes/pki/sa.key
carotate_step 4 'on cp-1' 'Back up /etc/kubernetes/pki/sa.key'
if ! carotate_backed_up /var/backups/carotate-20261202-5a4e7e/step-4 /etc/kubernetes/pki/sa.key; then
  mkdir -p /var/backups/carotate-20261202-5a4e7e/step-4 && (cd / && cp -a --parents /etc/kubernetes/pki/sa.key /var/backups/carotate-20261202-5a4e7e/step-4/)
  carotate_backed_up /var/backups/carotate-20261202-5a4e7e/step-4 /etc/kubernetes/pki/sa.key || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/pki/sa.key'; fi

# The new public key alone into sa.pub, which nothing reads now
carotate_step 4 'on cp-1' 'The new public key alone into sa.pub, which nothing reads now'
if ! carotate_content /etc/kubernetes/pki/sa.pub 3f18e7e3bed34c4418081c406fcbb844f0acf3ba2c2a7221769d6815781369a8; then
  cat >/etc/kubernetes/pki/sa.pub <<'EOF'
-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEAQerY7BdXO6U+MazpmCQRyYGRWxC
P6Yt1cpzlsBor+QKqQ0UgJcQzVB4vIBotw4+ziVkhw+dlpAkMbYOk0qOwA==
-----END PUBLIC KEY-----
EOF
  chmod 0644 /etc/kubernetes/pki/sa.pub
  carotate_content /etc/kubernetes/pki/sa.pub 3f18e7e3bed34c4418081c406fcbb844f0acf3ba2c2a7221769d6815781369a8 || carotate_did_not_take
else carotate_already 'The new public key alone into sa.pub, which nothing reads now'; fi

# Copy sa-new.key (step 1's new private key) over sa.key, which nothing reads
# now
carotate_step 4 'on cp-1' "Copy sa-new.key (step 1's new private key) over sa.key, which nothing reads now"
if ! carotate_key_file /etc/kubernetes/pki/sa.key 16afb64f7172d9579deffb8707d23baa0ed2143f90a06288152aab07092a84f4 'the new ServiceAccount signing key'; then
  install -m 0600 /etc/kubernetes/pki/sa-new.key /etc/kubernetes/pki/sa.key
  carotate_key_file /etc/kubernetes/pki/sa.key 16afb64f7172d9579deffb8707d23baa0ed2143f90a06288152aab07092a84f4 'the new ServiceAccount signing key' || carotate_did_not_take
else carotate_already "Copy sa-new.key (step 1's new private key) over sa.key, which nothing reads now"; fi

# Back up /etc/kubernetes/manifests/kube-apiserver.yaml
carotate_step 4 'on cp-1' 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'
if ! carotate_backed_up /var/backups/carotate-20261202-5a4e7e/step-4 /etc/kubernetes/manifests/kube-apiserver.yaml; then
  mkdir -p /var/backups/carotate-20261202-5a4e7e/step-4 && (cd / && cp -a --parents /etc/kubernetes/manifests/kube-apiserver.yaml /var/backups/carotate-20261202-5a4e7e/step-4/)
  carotate_backed_up /var/backups/carotate-20261202-5a4e7e/step-4 /etc/kubernetes/manifests/kube-apiserver.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'; fi

# kube-apiserver: --service-account-key-file=/etc/kubernetes/pki/sa.pub (new
# ServiceAccount public key)
carotate_step 4 'on cp-1' 'kube-apiserver: --service-account-key-file=/etc/kubernetes/pki/sa.pub (new ServiceAccount public key)'
if ! carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --service-account-key-file /etc/kubernetes/pki/sa.pub; then
  sed -i -e 's|- --service-account-key-file=.*|- --service-account-key-file=/etc/kubernetes/pki/sa.pub|' /etc/kubernetes/manifests/kube-apiserver.yaml
  carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --service-account-key-file /etc/kubernetes/pki/sa.pub || carotate_did_not_take
else carotate_already 'kube-apiserver: --service-account-key-file=/etc/kubernetes/pki/sa.pub (new ServiceAccount public key)'; fi

# kube-apiserver:
# --service-account-signing-key-file=/etc/kubernetes/pki/sa.key (new
# ServiceAccount signing key)
carotate_step 4 'on cp-1' 'kube-apiserver: --service-account-signing-key-file=/etc/kubernetes/pki/sa.key (new ServiceAccount signing key)'
if ! carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --service-account-signing-key-file /etc/kubernetes/pki/sa.key; then
  sed -i -e 's|- --service-account-signing-key-file=.*|- --service-account-signing-key-file=/etc/kubernetes/pki/sa.key|' /etc/kubernetes/manifests/kube-apiserver.yaml
  carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --service-account-signing-key-file /etc/kubernetes/pki/sa.key || carotate_did_not_take
else carotate_already 'kube-apiserver: --service-account-signing-key-file=/etc/kubernetes/pki/sa.key (new ServiceAccount signing key)'; fi

# Wait for kube-apiserver to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running
carotate_step 4 'on cp-1' 'Wait for kube-apiserver to restart'
if ! carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /etc/kubernetes/pki/sa.pub /etc/kubernetes/pki/sa.key /etc/kubernetes/manifests/kube-apiserver.yaml; then
  crictl ps --name '^kube-apiserver$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-apiserver to run again and answer https://127.0.0.1:6443/readyz' carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /etc/kubernetes/pki/sa.pub /etc/kubernetes/pki/sa.key /etc/kubernetes/manifests/kube-apiserver.yaml
else carotate_already 'kube-apiserver runs, started after the changes above'; fi

# Back up /etc/kubernetes/manifests/kube-controller-manager.yaml
carotate_step 4 'on cp-1' 'Back up /etc/kubernetes/manifests/kube-controller-manager.yaml'
if ! carotate_backed_up /var/backups/carotate-20261202-5a4e7e/step-4 /etc/kubernetes/manifests/kube-controller-manager.yaml; then
  mkdir -p /var/backups/carotate-20261202-5a4e7e/step-4 && (cd / && cp -a --parents /etc/kubernetes/manifests/kube-controller-manager.yaml /var/backups/carotate-20261202-5a4e7e/step-4/)
  carotate_backed_up /var/backups/carotate-20261202-5a4e7e/step-4 /etc/kubernetes/manifests/kube-controller-manager.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/kube-controller-manager.yaml'; fi

# kube-controller-manager:
# --service-account-private-key-file=/etc/kubernetes/pki/sa.key (new
# ServiceAccount signing key)
carotate_step 4 'on cp-1' 'kube-controller-manager: --service-account-private-key-file=/etc/kubernetes/pki/sa.key (new ServiceAccount signing key)'
if ! carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --service-account-private-key-file /etc/kubernetes/pki/sa.key; then
  sed -i -e 's|- --service-account-private-key-file=.*|- --service-account-private-key-file=/etc/kubernetes/pki/sa.key|' /etc/kubernetes/manifests/kube-controller-manager.yaml
  carotate_flag /etc/kubernetes/manifests/kube-controller-manager.yaml --service-account-private-key-file /etc/kubernetes/pki/sa.key || carotate_did_not_take
else carotate_already 'kube-controller-manager: --service-account-private-key-file=/etc/kubernetes/pki/sa.key (new ServiceAccount signing key)'; fi

# Wait for kube-controller-manager to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running
carotate_step 4 'on cp-1' 'Wait for kube-controller-manager to restart'
if ! carotate_static_pod kube-controller-manager https://127.0.0.1:10257/healthz /etc/kubernetes/pki/sa.pub /etc/kubernetes/pki/sa.key /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/manifests/kube-controller-manager.yaml; then
  crictl ps --name '^kube-controller-manager$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-controller-manager to run again and answer https://127.0.0.1:10257/healthz' carotate_static_pod kube-controller-manager https://127.0.0.1:10257/healthz /etc/kubernetes/pki/sa.pub /etc/kubernetes/pki/sa.key /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/manifests/kube-controller-manager.yaml
else carotate_already 'kube-controller-manager runs, started after the changes above'; fi

# Remove sa-bundle.pub (step 1's transition file), which nothing reads now
carotate_step 4 'on cp-1' "Remove sa-bundle.pub (step 1's transition file), which nothing reads now"
if ! carotate_absent /etc/kubernetes/pki/sa-bundle.pub; then
  rm -f /etc/kubernetes/pki/sa-bundle.pub
  carotate_absent /etc/kubernetes/pki/sa-bundle.pub || carotate_did_not_take
else carotate_already "Remove sa-bundle.pub (step 1's transition file), which nothing reads now"; fi

# Remove sa-new.pub (step 1's transition file), which nothing reads now
carotate_step 4 'on cp-1' "Remove sa-new.pub (step 1's transition file), which nothing reads now"
if ! carotate_absent /etc/kubernetes/pki/sa-new.pub; then
  rm -f /etc/kubernetes/pki/sa-new.pub
  carotate_absent /etc/kubernetes/pki/sa-new.pub || carotate_did_not_take
else carotate_already "Remove sa-new.pub (step 1's transition file), which nothing reads now"; fi

# Remove sa-new.key (step 1's transition file), which nothing reads now
carotate_step 4 'on cp-1' "Remove sa-new.key (step 1's transition file), which nothing reads now"
if ! carotate_absent /etc/kubernetes/pki/sa-new.key; then
  rm -f /etc/kubernetes/pki/sa-new.key
  carotate_absent /etc/kubernetes/pki/sa-new.key || carotate_did_not_take
else carotate_already "Remove sa-new.key (step 1's transition file), which nothing reads now"; fi

carotate_say 'done: target sa-key --phase finish on cp-1 and the workstation'
