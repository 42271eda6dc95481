#!/usr/bin/env bash
# Proves a release would work, offline except for the Go module proxy:
#   1. installs goreleaser and krew (pinned) into _output/bin;
#   2. copies the working tree (tracked and untracked, not ignored files) into
#      a throwaway git repository with one commit and an origin remote, so the
#      real repository's history, remotes and tree are never touched;
#   3. runs goreleaser check and a snapshot release there, and keeps its
#      archives and checksums in _output/dist;
#   4. renders the krew manifest (hack/krew-manifest.sh) into
#      _output/krew/carotate.yaml and validates it with validate-krew-manifest;
#   5. with throwaway KREW_ROOTs, installs every platform's archive through
#      "kubectl krew install --manifest --archive" and checks what lands;
#   6. for this machine's platform, runs "kubectl carotate version" through
#      krew's link and "kubectl carotate <TAB>" through kubectl's plugin
#      completion, and checks the snapshot version comes back.
# Any mismatch fails with a non-zero exit.
#
# kubectl is $KUBECTL, else _output/bin/kubectl (make tools), else the one on
# PATH, else built with hack/build-tools.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/_output/bin
logs=$root/_output/release-check
goreleaser_version=v2.15.1
krew_version=v0.4.3
start=$(date +%s)

step() { printf '==> %s\n' "$*"; }
fail() { printf 'release-check: FAIL: %s\n' "$*" >&2; exit 1; }
# run LOG CMD...: quiet on success; on failure, the log's tail and its path.
run() {
  local log=$1; shift
  if ! "$@" < /dev/null > "$log" 2>&1; then
    tail -n 40 "$log" >&2
    fail "$* (full log: $log)"
  fi
}

mkdir -p "$bin" "$logs"
work=$(mktemp -d "${TMPDIR:-/tmp}/carotate-release-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

# 1. Tools, reinstalled only when the binary is missing or another version.
install_tool() { # name package version
  local have
  have=$(go version -m "$bin/$1" 2>/dev/null | awk '$1 == "mod" { print $3; exit }' || true)
  [ "$have" = "$3" ] && return 0
  step "installing $1 $3 into _output/bin (go install $2@$3)"
  run "$logs/install-$1.log" env GOBIN="$bin" go install "$2@$3"
}
install_tool goreleaser github.com/goreleaser/goreleaser/v2 "$goreleaser_version"
install_tool krew sigs.k8s.io/krew/cmd/krew "$krew_version"
install_tool validate-krew-manifest sigs.k8s.io/krew/cmd/validate-krew-manifest "$krew_version"

if [ -n "${KUBECTL:-}" ]; then
  kubectl=$(command -v "$KUBECTL") || fail "KUBECTL=$KUBECTL not found"
elif [ -x "$bin/kubectl" ]; then
  kubectl=$bin/kubectl
elif command -v kubectl > /dev/null; then
  kubectl=$(command -v kubectl)
  step "using $kubectl (no _output/bin/kubectl: make tools builds it)"
else
  step "building kubectl with hack/build-tools.sh (no _output/bin/kubectl)"
  "$root/hack/build-tools.sh"
  kubectl=$bin/kubectl
fi
# "kubectl krew" runs the plugin kubectl-krew from PATH.
shim=$work/shim
mkdir -p "$shim"
ln -s "$bin/krew" "$shim/kubectl-krew"
ln -s "$kubectl" "$shim/kubectl"

# 2. A throwaway repository holding exactly the working tree.
src=$work/src
step "copying the working tree into a throwaway git repository"
mkdir -p "$src"
(
  cd "$root"
  git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do
    # Tracked files deleted in the working tree are not part of it.
    if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
  done | tar --null -T - -cf -
) | tar -C "$src" -xf -
git_q() { git -C "$src" -c user.name=release-check -c user.email=release-check@localhost -c commit.gpgsign=false -c tag.gpgsign=false "$@"; }
git_q init -q
git_q add -A -f
git_q commit -q --no-verify -m "release-check snapshot"
# Continue the version from the real repository's latest release tag.
if last_tag=$(git -C "$root" describe --tags --abbrev=0 --match 'v[0-9]*' 2> /dev/null); then
  git_q tag "$last_tag"
fi
git_q remote add origin https://github.com/carotate/kubectl-carotate

# 3. goreleaser. Only one SCM token may be set, and none is needed.
step "goreleaser check"
(cd "$src" && run "$logs/goreleaser-check.log" env -u GITLAB_TOKEN -u GITEA_TOKEN "$bin/goreleaser" check)
step "goreleaser release --snapshot (six platforms; cold: 5-15 min on 2 cores, warm: seconds)"
(cd "$src" && run "$logs/goreleaser-release.log" env -u GITLAB_TOKEN -u GITEA_TOKEN \
  "$bin/goreleaser" release --snapshot --clean --skip=publish)
dist=$root/_output/dist
rm -rf "$dist"
mkdir -p "$dist"
find "$src/dist" -maxdepth 1 -type f -exec cp -p {} "$dist/" \;
version=$(tr -d '\n' < "$dist/metadata.json" | sed -n 's/.*"version": *"\([^"]*\)".*/\1/p')
[ -n "$version" ] || fail "no version in $dist/metadata.json"
step "built version $version; verifying checksums.txt"
(cd "$dist" && sha256sum --quiet -c checksums.txt) || fail "checksums.txt does not match the archives in $dist"

for a in "$dist"/kubectl-carotate_*.tar.gz; do
  listing=$(tar -tzvf "$a")
  for f in kubectl-carotate LICENSE kubectl_complete-carotate; do
    grep -Eq "^-[rwx-]{9} .* $f\$" <<< "$listing" || fail "$(basename "$a") lacks $f"
  done
  grep -Eq '^-rwxr-xr-x .* kubectl_complete-carotate$' <<< "$listing" ||
    fail "$(basename "$a"): kubectl_complete-carotate is not executable"
done

# 4. The manifest krew-release-bot would open a pull request with.
manifest=$root/_output/krew/carotate.yaml
step "rendering and validating the krew manifest"
"$root/hack/krew-manifest.sh" --dist "$dist" --out "$manifest"
grep -qx "  version: \"v$version\"" "$manifest" || fail "$manifest does not say version v$version"
run "$logs/validate-krew-manifest.log" "$bin/validate-krew-manifest" -manifest "$manifest" -skip-install

host_os=$(go env GOOS) host_arch=$(go env GOARCH)
# Nothing below may read or write the user's kubeconfig or ~/.krew.
export KREW_NO_UPGRADE_CHECK=1 KUBECONFIG=$work/kubeconfig HOME=$work/home
mkdir -p "$HOME"
new_krew_root() {
  local r=$work/krew-$1
  mkdir -p "$r"
  git init -q "$r/index/default"
  echo "$r"
}
archive_for() { # os arch -> archive path
  local ext=tar.gz
  [ "$1" = windows ] && ext=zip
  echo "$dist/kubectl-carotate_v${version}_$1_$2.$ext"
}

# 5. Every platform installs and carries its files.
step "kubectl krew install, every platform"
platforms=$(sed -n 's/^ *os: \(.*\)$/\1/p' "$manifest" | paste -d' ' - <(sed -n 's/^ *arch: \(.*\)$/\1/p' "$manifest"))
[ "$(wc -l <<< "$platforms")" -eq 6 ] || fail "expected 6 platforms in $manifest, found: $platforms"
while read -r pos parch; do
  r=$(new_krew_root "$pos-$parch")
  exe="kubectl-carotate"
  [ "$pos" = windows ] && exe="kubectl-carotate.exe"
  run "$logs/krew-install-$pos-$parch.log" env KREW_ROOT="$r" KREW_OS="$pos" KREW_ARCH="$parch" PATH="$shim:$PATH" \
    kubectl krew install --manifest="$manifest" --archive="$(archive_for "$pos" "$parch")"
  store=$r/store/carotate/v$version
  want=("$exe" LICENSE)
  [ "$pos" = windows ] || want+=(kubectl_complete-carotate)
  for f in "${want[@]}"; do [ -f "$store/$f" ] || fail "$pos/$parch: krew installed no $f"; done
  [ -L "$r/bin/$exe" ] || fail "$pos/$parch: krew made no link $r/bin/$exe"
done <<< "$platforms"

# 6. This machine: the installed plugin runs and completes through kubectl.
step "kubectl carotate version through krew ($host_os/$host_arch)"
KREW_ROOT=$(new_krew_root host)
export KREW_ROOT PATH=$KREW_ROOT/bin:$shim:$PATH
run "$logs/krew-install.log" kubectl krew install --manifest="$manifest" --archive="$(archive_for "$host_os" "$host_arch")"
found=$(command -v kubectl-carotate)
[ "$found" = "$KREW_ROOT/bin/kubectl-carotate" ] || fail "kubectl-carotate on PATH is $found, not krew's link"
kubectl krew list 2> /dev/null | grep -Eqx '([^/]+/)?carotate' || fail "kubectl krew list does not show carotate"

got=$(kubectl carotate version) || fail "kubectl carotate version failed"
echo "    $got"
case $got in "kubectl-carotate $version (commit "*) ;; *) fail "kubectl carotate version printed \"$got\", want version $version" ;; esac
got=$(kubectl carotate version -o json)
grep -q "\"version\": \"$version\"" <<< "$got" || fail "kubectl carotate version -o json: $got"

# As the manifest's caveats tell users to do.
cp "$KREW_ROOT"/store/carotate/*/kubectl_complete-carotate "$KREW_ROOT/bin/"
step "kubectl __complete carotate (kubectl's plugin completion)"
got=$(kubectl __complete carotate "" 2> /dev/null)
for w in version completion; do
  grep -q "^$w"$'\t' <<< "$got" || fail "kubectl carotate <TAB> does not offer $w: $got"
done
got=$(kubectl __complete carotate version -o "" 2> /dev/null)
[ "$(grep -v '^:' <<< "$got" | tr '\n' ' ')" = "json yaml " ] || fail "kubectl carotate version -o <TAB> offered: $got"

echo "release-check: OK: v$version installs with krew on 6 platforms and runs ($(($(date +%s) - start))s)"
echo "    manifest: ${manifest#"$root"/}  archives: ${dist#"$root"/}/"
