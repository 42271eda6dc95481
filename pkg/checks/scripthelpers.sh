# Helpers of the printed script: progress, failure, polls and the checks
# that tell whether a step took. A check returns non-zero and says why in
# carotate_why; it never changes anything.
carotate_where=start
carotate_why=
carotate_say() { printf 'carotate: %s\n' "$*" >&2; }
carotate_fail() {
  carotate_say "$*"
  exit 1
}
carotate_on_error() {
  carotate_say "step $carotate_where failed (exit $1 at line $2): nothing after it ran. Fix what the output above says and run this script again: what is done is checked, not done twice."
}
trap 'carotate_on_error "$?" "$LINENO"' ERR
# CAROTATE_SHOW=1 prints each command of the steps before it runs.
carotate_show() {
  local c=$BASH_COMMAND
  case $c in
  carotate_* | '[[ '* | 'trap '* | 'set '* | ': '*) return ;;
  esac
  if [[ $c == *$'\n'* ]]; then
    c="${c%%$'\n'*} ...(here-document)"
  fi
  if ((${#c} > 240)); then
    c="${c:0:240}...(${#c} characters)"
  fi
  printf '+ %s\n' "$c" >&2
}
if [[ ${CAROTATE_SHOW:-} == 1 ]]; then
  trap carotate_show DEBUG
fi
carotate_step() { # STEP WHERE DESCRIPTION
  carotate_where="$1 $2"
  carotate_say "step $carotate_where: $3"
}
carotate_already() { carotate_say "  already done: $*"; }
carotate_did_not_take() { carotate_fail "step $carotate_where did not take: $carotate_why"; }
carotate_need() { # COMMAND...: fail before any step when one is missing
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null || carotate_fail "this script needs $c on PATH; nothing was changed"
  done
}
carotate_on_node() { # NODE
  local here=${CAROTATE_NODE:-$(hostname)}
  if [[ $here != "$1" ]]; then
    carotate_fail "this script is for node $1, and this machine is $here: run it on $1 (CAROTATE_NODE=$1 if $1 is this machine under another name); nothing was changed"
  fi
  if ((EUID != 0)); then
    carotate_fail "run this script as root on $1 (it edits files under /etc/kubernetes and /var/lib/kubelet); nothing was changed"
  fi
}
# carotate_wait SECONDS WHAT CHECK...: runs CHECK every 2 seconds until it
# passes; gives up after SECONDS, saying what it waited for and why.
carotate_wait() {
  local timeout=$1 what=$2 deadline=$((SECONDS + $1))
  shift 2
  until "$@"; do
    if ((SECONDS >= deadline)); then
      carotate_fail "step $carotate_where: gave up waiting for $what after ${timeout}s: $carotate_why"
    fi
    sleep 2
  done
}
# carotate_retry SECONDS WHAT COMMAND...: runs COMMAND until it succeeds,
# for what another node writes first.
carotate_retry() {
  local timeout=$1 what=$2 deadline=$((SECONDS + $1)) out
  shift 2
  until out=$("$@" 2>&1); do
    if ((SECONDS >= deadline)); then
      carotate_fail "step $carotate_where: gave up waiting for $what after ${timeout}s: ${out//$'\n'/ }"
    fi
    sleep 2
  done
}
carotate_newest() { # FILE...: the newest modification time, in seconds
  local f t newest=0
  for f in "$@"; do
    if [[ -e $f ]]; then
      t=$(stat -L -c %Y "$f")
      if ((t > newest)); then newest=$t; fi
    fi
  done
  echo "$newest"
}
# carotate_fingerprints: the SHA-256 fingerprint of each certificate of
# the PEM on stdin, one per line, in order.
carotate_fingerprints() {
  local line block=
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line%$'\r'}
    if [[ $line == '-----BEGIN CERTIFICATE-----' ]]; then
      block=$line$'\n'
    elif [[ -n $block ]]; then
      block+=$line$'\n'
      if [[ $line == '-----END CERTIFICATE-----' ]]; then
        printf '%s' "$block" | openssl x509 -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f'
        block=
      fi
    fi
  done
}
# carotate_same_certs WHAT FINGERPRINT...: the PEM on stdin holds exactly
# these certificates, in this order.
carotate_same_certs() {
  local what=$1 got want
  shift
  got=$(carotate_fingerprints)
  want=$(printf '%s\n' "$@")
  if [[ $got != "$want" ]]; then
    carotate_why="$what holds the certificates ${got:-(none)}, not $want"
    carotate_why=${carotate_why//$'\n'/ }
    return 1
  fi
}
carotate_certs() { # FILE FINGERPRINT...
  if [[ ! -f $1 ]]; then
    carotate_why="$1 does not exist"
    return 1
  fi
  carotate_same_certs "$@" <"$1"
}
carotate_spki() { # KEY-OR-CERT-FILE: the SHA-256 of its public key
  if grep -q 'BEGIN CERTIFICATE' "$1"; then
    openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1
  else
    openssl pkey -in "$1" -pubout -outform DER | sha256sum | cut -d' ' -f1
  fi
}
carotate_key_file() { # FILE PUBLIC-KEY-SHA256 WHAT
  if [[ ! -f $1 ]]; then
    carotate_why="$1 does not exist"
    return 1
  fi
  if [[ $(stat -c %a "$1") != 600 ]]; then
    carotate_why="$1 has mode $(stat -c %a "$1"), not 600"
    return 1
  fi
  if [[ $(carotate_spki "$1" 2>/dev/null) != "$2" ]]; then
    carotate_why="$1 is not $3"
    return 1
  fi
}
carotate_key_given() { # VARIABLE FILE PUBLIC-KEY-SHA256 WHAT
  if [[ ! -r $2 ]]; then
    carotate_fail "$1=$2: no such file. Copy $4's private key to this node (kubectl carotate never reads it) and point $1 at it; nothing was changed"
  fi
  if [[ $(carotate_spki "$2" 2>/dev/null) != "$3" ]]; then
    carotate_fail "$1=$2 is not the private key of $4; nothing was changed"
  fi
}
# carotate_ca_file FILE FINGERPRINT... <PEM: a CA file the workstation
# steps read. Written from the PEM when missing, checked when present.
carotate_ca_file() {
  local file=$1 pem
  shift
  pem=$(cat)
  if [[ ! -e $file ]]; then
    printf '%s\n' "$pem" >"$file"
    carotate_say "wrote $file (the rotation's public certificates), which the workstation steps read"
  fi
  if ! carotate_certs "$file" "$@"; then
    carotate_fail "$file is not what the workstation steps need: $carotate_why. Move it away and run this script again; nothing was changed"
  fi
}
carotate_backed_up() { # TARGET FILE
  if [[ ! -e $1$2 ]]; then
    carotate_why="there is no backup $1$2"
    return 1
  fi
}
carotate_absent() { # FILE
  if [[ -e $1 ]]; then
    carotate_why="$1 still exists"
    return 1
  fi
}
carotate_same() { # FROM FILE
  if ! cmp -s "$1" "$2"; then
    carotate_why="$2 is not a copy of $1"
    return 1
  fi
}
carotate_issued() { # FILE CA [KEY]
  local out
  if [[ ! -f $1 ]]; then
    carotate_why="$1 does not exist"
    return 1
  fi
  if ! out=$(openssl verify -CAfile "$2" "$1" 2>&1); then
    carotate_why="$1 does not verify against $2: ${out//$'\n'/ }"
    return 1
  fi
  if [[ -n ${3:-} && $(carotate_spki "$1") != "$(carotate_spki "$3")" ]]; then
    carotate_why="$1 is not for the key $3"
    return 1
  fi
}
carotate_trimmed_lines() { # FILE: its lines without leading and trailing blanks
  sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' "$1"
}
carotate_flag() { # MANIFEST FLAG VALUE
  local want="- $2=$3" lines
  if [[ ! -f $1 ]]; then
    carotate_why="$1 does not exist"
    return 1
  fi
  lines=$(carotate_trimmed_lines "$1" | grep -F -e "- $2=" -e "- \"$2=" -e "- '$2=" -e "- $2 " || true)
  if [[ $lines != "$want" ]]; then
    carotate_why="$1 has no line '$want' (its lines for $2: ${lines:-none}); edit it by hand so the static pod runs with $2=$3, or restore it from the backup"
    carotate_why=${carotate_why//$'\n'/, }
    return 1
  fi
}
carotate_config_field() { # CONFIG FIELD VALUE
  local lines
  if [[ ! -f $1 ]]; then
    carotate_why="$1 does not exist"
    return 1
  fi
  lines=$(carotate_trimmed_lines "$1" | grep -E "^$2:" || true)
  if [[ $lines != "$2: $3" ]]; then
    carotate_why="$1 has no line '$2: $3' (its lines for $2: ${lines:-none})"
    carotate_why=${carotate_why//$'\n'/, }
    return 1
  fi
}
carotate_kubeconfig() { # KUBECONFIG ARGS...: kubectl config view on it ("": the default one, its current context)
  local kc=$1
  shift
  if [[ -n $kc ]]; then
    kubectl config view --raw --kubeconfig "$kc" "$@"
  else
    kubectl config view --raw --minify "$@"
  fi
}
carotate_kubeconfig_ca() { # KUBECONFIG FINGERPRINT...
  local kc=$1 data
  shift
  if [[ -n $kc && ! -f $kc ]]; then
    carotate_why="$kc does not exist"
    return 1
  fi
  if [[ -n $(carotate_kubeconfig "$kc" -o jsonpath='{.clusters[*].cluster.certificate-authority}') ]]; then
    carotate_why="${kc:-the kubeconfig} names a certificate-authority file instead of certificate-authority-data"
    return 1
  fi
  for data in $(carotate_kubeconfig "$kc" -o jsonpath='{.clusters[*].cluster.certificate-authority-data}'); do
    if ! base64 -d <<<"$data" | carotate_same_certs "certificate-authority-data of ${kc:-the kubeconfig}" "$@"; then
      return 1
    fi
  done
  if [[ -z ${data:-} ]]; then
    carotate_why="${kc:-the kubeconfig} has no certificate-authority-data"
    return 1
  fi
}
carotate_client_cert() { # KUBECONFIG: the PEM of its client certificate
  local data file
  data=$(kubectl config view --raw --minify --kubeconfig "$1" -o jsonpath='{.users[0].user.client-certificate-data}')
  if [[ -n $data ]]; then
    base64 -d <<<"$data"
    return
  fi
  file=$(kubectl config view --raw --minify --kubeconfig "$1" -o jsonpath='{.users[0].user.client-certificate}')
  if [[ -n $file ]]; then
    cat "$file"
  fi
}
carotate_client_cert_from() { # KUBECONFIG CA
  local out
  if ! out=$(openssl verify -CAfile "$2" <(carotate_client_cert "$1") 2>&1); then
    carotate_why="the client certificate of $1 does not verify against $2: ${out//$'\n'/ }"
    return 1
  fi
}
# The node's health URL must answer, and its running container must have
# started after the newest of the files its step changed.
carotate_static_pod() { # COMPONENT HEALTH-URL FILE...
  local component=$1 url=$2 since ids id started
  shift 2
  since=$(carotate_newest "$@")
  if ! ids=$(crictl ps --name "^$component\$" --state running -q 2>&1) || [[ -z $ids ]]; then
    carotate_why="no $component container runs (crictl ps: ${ids:-none})"
    return 1
  fi
  id=${ids%%$'\n'*}
  if ! started=$(crictl inspect -o go-template --template '{{.status.startedAt}}' "$id" 2>&1) || ! started=$(date -d "$started" +%s 2>&1); then
    carotate_why="crictl inspect $id: $started"
    return 1
  fi
  if ((started < since)); then
    carotate_why="the running $component container started at $(date -u -d "@$started" +%FT%TZ), before its files changed at $(date -u -d "@$since" +%FT%TZ)"
    return 1
  fi
  if ! curl -skf --max-time 5 -o /dev/null "$url"; then
    carotate_why="$component does not answer $url yet"
    return 1
  fi
}
# The kubelet must run, have started after the newest of the files its
# step changed, and have renewed its node's Lease since, with kubelet.conf.
carotate_kubelet() { # NODE KUBECONFIG FILE...
  local node=$1 kc=$2 since started renewed
  shift 2
  since=$(carotate_newest "$@")
  if ! systemctl is-active --quiet kubelet; then
    carotate_why="the kubelet is not active (systemctl is-active kubelet)"
    return 1
  fi
  started=$(systemctl show kubelet --property=ActiveEnterTimestamp --value)
  if ! started=$(date -d "$started" +%s 2>&1); then
    carotate_why="systemctl show kubelet: $started"
    return 1
  fi
  if ((started < since)); then
    carotate_why="the kubelet started at $(date -u -d "@$started" +%FT%TZ), before its files changed at $(date -u -d "@$since" +%FT%TZ)"
    return 1
  fi
  if ! renewed=$(kubectl --kubeconfig "$kc" get lease -n kube-node-lease "$node" -o jsonpath='{.spec.renewTime}' 2>&1) ||
    ! renewed=$(date -d "$renewed" +%s 2>&1); then
    carotate_why="reading node $node's Lease with $kc: ${renewed//$'\n'/ }"
    return 1
  fi
  if ((renewed <= started)); then
    carotate_why="the kubelet has not renewed node $node's Lease since it started at $(date -u -d "@$started" +%FT%TZ)"
    return 1
  fi
}
# carotate_published FINGERPRINT...: kube-controller-manager publishes
# these certificates as the ServiceAccount root CA.
carotate_published() {
  local out
  if ! out=$(kubectl -n kube-system get configmap kube-root-ca.crt -o jsonpath='{.data.ca\.crt}' 2>&1); then
    carotate_why="reading kube-system/kube-root-ca.crt: $out"
    return 1
  fi
  carotate_same_certs kube-system/kube-root-ca.crt "$@" <<<"$out"
}
# Nodes say on their Node object how far their scripts got
# (carotate.io/step-N: ROTATION/GROUP); a node can write only its own.
carotate_mark() { # NODE STEP GROUP
  local out
  if ! out=$(kubectl --kubeconfig /etc/kubernetes/kubelet.conf annotate node "$1" --overwrite "carotate.io/step-$2=$carotate_rotation/$3" 2>&1); then
    carotate_fail "step $2 on $1 is done, but recording that on node $1 for the script that waits for it failed (with the kubelet's credentials, /etc/kubernetes/kubelet.conf): ${out//$'\n'/ }"
  fi
}
carotate_node_did() { # NODE STEP GROUP
  local got
  if ! got=$(kubectl get node "$1" -o go-template="{{index .metadata.annotations \"carotate.io/step-$2\"}}" 2>&1); then
    carotate_why="reading node $1: ${got//$'\n'/ }"
    return 1
  fi
  if [[ $got != "$carotate_rotation/"* || ${got#"$carotate_rotation/"} -lt $3 ]]; then
    carotate_why="node $1 says carotate.io/step-$2: $got"
    return 1
  fi
}
