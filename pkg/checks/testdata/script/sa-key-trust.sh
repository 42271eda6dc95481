#!/usr/bin/env bash
# kubectl carotate instructions -o script --target sa-key --phase trust
# (rotation 20261202-5a4e7e): the steps of node cp-1.
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
: "${NEW_SA_KEY:=./new-sa.key}"
carotate_on_node cp-1
carotate_need crictl curl openssl
carotate_key_given NEW_SA_KEY "${NEW_SA_KEY}" 16afb64f7172d9579deffb8707d23baa0ed2143f90a06288152aab07092a84f4 'the new ServiceAccount public key'


##############################################################################
# Step 1 on cp-1: kube-apiserver verifies tokens with the new public key
# beside the old (--service-account-key-file)

# Back up /etc/kubernetes/manifests/kube-apiserver.yaml
carotate_step 1 'on cp-1' 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'
if ! carotate_backed_up /var/backups/carotate-20261202-5a4e7e/step-1 /etc/kubernetes/manifests/kube-apiserver.yaml; then
  mkdir -p /var/backups/carotate-20261202-5a4e7e/step-1 && (cd / && cp -a --parents /etc/kubernetes/manifests/kube-apiserver.yaml /var/backups/carotate-20261202-5a4e7e/step-1/)
  carotate_backed_up /var/backups/carotate-20261202-5a4e7e/step-1 /etc/kubernetes/manifests/kube-apiserver.yaml || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/manifests/kube-apiserver.yaml'; fi

# Back up /etc/kubernetes/pki/sa.pub
carotate_step 1 'on cp-1' 'Back up /etc/kubernetes/pki/sa.pub'
if ! carotate_backed_up /var/backups/carotate-20261202-5a4e7e/step-1 /etc/kubernetes/pki/sa.pub; then
  mkdir -p /var/backups/carotate-20261202-5a4e7e/step-1 && (cd / && cp -a --parents /etc/kubernetes/pki/sa.pub /var/backups/carotate-20261202-5a4e7e/step-1/)
  carotate_backed_up /var/backups/carotate-20261202-5a4e7e/step-1 /etc/kubernetes/pki/sa.pub || carotate_did_not_take
else carotate_already 'Back up /etc/kubernetes/pki/sa.pub'; fi

# The new public key alone, beside sa.pub
carotate_step 1 'on cp-1' 'The new public key alone, beside sa.pub'
if ! carotate_content /etc/kubernetes/pki/sa-new.pub 3f18e7e3bed34c4418081c406fcbb844f0acf3ba2c2a7221769d6815781369a8; then
  cat >/etc/kubernetes/pki/sa-new.pub <<'EOF'
-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEAQerY7BdXO6U+MazpmCQRyYGRWxC
P6Yt1cpzlsBor+QKqQ0UgJcQzVB4vIBotw4+ziVkhw+dlpAkMbYOk0qOwA==
-----END PUBLIC KEY-----
EOF
  chmod 0644 /etc/kubernetes/pki/sa-new.pub
  carotate_content /etc/kubernetes/pki/sa-new.pub 3f18e7e3bed34c4418081c406fcbb844f0acf3ba2c2a7221769d6815781369a8 || carotate_did_not_take
else carotate_already 'The new public key alone, beside sa.pub'; fi

# The old and new public keys, beside sa.pub
carotate_step 1 'on cp-1' 'The old and new public keys, beside sa.pub'
if ! carotate_content /etc/kubernetes/pki/sa-bundle.pub 07a12d6b5920a527794a374228295d0eac07cfbcb59e5dfb978c274eefcb2ea1; then
  cat >/etc/kubernetes/pki/sa-bundle.pub <<'EOF'
-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEAQerY7BdXO6U+MazpmCQRyYGRWxC
P6Yt1cpzlsBor+QKqQ0UgJcQzVB4vIBotw4+ziVkhw+dlpAkMbYOk0qOwA==
-----END PUBLIC KEY-----
-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu0QBLEUIyUBFIwGT/HWb
LQcGxYY4E7CPnAu8yXe6N1JyTS2Vu2kIZtNphv5ePo2QtBSuwEE82D3wqVrLv7VH
K8VVQ0Soq2mlKjYcBOMkmsbCpNqInjHDPwiy1lSwHZ4SkzaPmd9C3wTkGd5GsKg2
WSUNaM676k+fw5mzFzCviIYF9ILfb6UCEHXAUao4rizkTXgd29O4+fA6Xhk3uCtc
FbrIDKtbrWNABIo7hgT4bc86O3dl67lPSN6/dwDhRIufTvz0riqYUBb8Ghx6qCkb
BuM7TPQ57gYp+wRl92eFNK1kS25YA5RPKRhvEWLSFafl7twppa3mVjJMG5ogveXh
KwIDAQAB
-----END PUBLIC KEY-----
EOF
  chmod 0644 /etc/kubernetes/pki/sa-bundle.pub
  carotate_content /etc/kubernetes/pki/sa-bundle.pub 07a12d6b5920a527794a374228295d0eac07cfbcb59e5dfb978c274eefcb2ea1 || carotate_did_not_take
else carotate_already 'The old and new public keys, beside sa.pub'; fi

# The new private key, beside sa.key
#   copy the key from where you generated it to this node first; kubectl
#   carotate never reads or stores private keys
carotate_step 1 'on cp-1' 'The new private key, beside sa.key'
if ! carotate_key_file /etc/kubernetes/pki/sa-new.key 16afb64f7172d9579deffb8707d23baa0ed2143f90a06288152aab07092a84f4 'the new ServiceAccount signing key'; then
  install -m 0600 "${NEW_SA_KEY}" /etc/kubernetes/pki/sa-new.key
  carotate_key_file /etc/kubernetes/pki/sa-new.key 16afb64f7172d9579deffb8707d23baa0ed2143f90a06288152aab07092a84f4 'the new ServiceAccount signing key' || carotate_did_not_take
else carotate_already 'The new private key, beside sa.key'; fi

# kube-apiserver: --service-account-key-file=/etc/kubernetes/pki/sa-bundle.pub
# (ServiceAccount public keys: new, then old)
carotate_step 1 'on cp-1' 'kube-apiserver: --service-account-key-file=/etc/kubernetes/pki/sa-bundle.pub (ServiceAccount public keys: new, then old)'
if ! carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --service-account-key-file /etc/kubernetes/pki/sa-bundle.pub; then
  sed -i -e 's|- --service-account-key-file=.*|- --service-account-key-file=/etc/kubernetes/pki/sa-bundle.pub|' /etc/kubernetes/manifests/kube-apiserver.yaml
  carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --service-account-key-file /etc/kubernetes/pki/sa-bundle.pub || carotate_did_not_take
else carotate_already 'kube-apiserver: --service-account-key-file=/etc/kubernetes/pki/sa-bundle.pub (ServiceAccount public keys: new, then old)'; fi

# Wait for kube-apiserver to restart
#   the kubelet restarts a static pod when its manifest changes; wait until
#   the container below is new and running
carotate_step 1 'on cp-1' 'Wait for kube-apiserver to restart'
if ! carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /etc/kubernetes/pki/sa-new.pub /etc/kubernetes/pki/sa-bundle.pub /etc/kubernetes/pki/sa-new.key /etc/kubernetes/manifests/kube-apiserver.yaml; then
  crictl ps --name '^kube-apiserver$'
  carotate_wait "${CAROTATE_TIMEOUT}" 'kube-apiserver to run again and answer https://127.0.0.1:6443/readyz' carotate_static_pod kube-apiserver https://127.0.0.1:6443/readyz /etc/kubernetes/pki/sa-new.pub /etc/kubernetes/pki/sa-bundle.pub /etc/kubernetes/pki/sa-new.key /etc/kubernetes/manifests/kube-apiserver.yaml
else carotate_already 'kube-apiserver runs, started after the changes above'; fi

carotate_say 'done: target sa-key --phase trust on cp-1'
