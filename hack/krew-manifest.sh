#!/usr/bin/env bash
# Renders krew-manifest.yaml (the krew-release-bot template) into a concrete
# krew manifest from goreleaser's output, the way krew-release-bot does on a
# release: {{ .TagName }} becomes the tag the archives are named with, and
# each {{addURIAndSha "URL" .TagName }} becomes "uri: URL" plus the archive's
# sha256 from checksums.txt.
#
# usage: hack/krew-manifest.sh [--dist DIR] [--out FILE] [--local]
#   --dist   goreleaser's dist directory (default: the newer of dist/ and
#            _output/dist/, whichever holds a checksums.txt)
#   --out    where to write (default: _output/krew/carotate.yaml)
#   --local  uri: file://DIST/ARCHIVE instead of the GitHub release URL
#
# Fails when an archive the template names is missing from checksums.txt,
# when an archive's bytes do not match its checksum, or when an archive in
# checksums.txt has no platform in the template.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
template=$root/krew-manifest.yaml
project=kubectl-carotate
dist=""
out=$root/_output/krew/carotate.yaml
local_uri=0

die() { echo "krew-manifest: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case $1 in
    --dist) dist=${2:?--dist needs a directory}; shift 2 ;;
    --out) out=${2:?--out needs a file}; shift 2 ;;
    --local) local_uri=1; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

if [ -z "$dist" ]; then
  for d in "$root/dist" "$root/_output/dist"; do
    [ -f "$d/checksums.txt" ] || continue
    if [ -z "$dist" ] || [ "$d/checksums.txt" -nt "$dist/checksums.txt" ]; then dist=$d; fi
  done
  [ -n "$dist" ] || die "no goreleaser output: run 'make release-check' or 'goreleaser release --snapshot --clean' first"
fi
dist=$(cd "$dist" && pwd)
checksums=$dist/checksums.txt
[ -f "$checksums" ] || die "$checksums not found"

# The tag is in the archive names: kubectl-carotate_<tag>_<os>_<arch>.<ext>.
tag=$(sed -n "s/^[0-9a-f]\{64\}  *\*\{0,1\}${project}_\(.*\)_linux_amd64\.tar\.gz\$/\1/p" "$checksums")
[ -n "$tag" ] || die "no ${project}_<tag>_linux_amd64.tar.gz in $checksums"
[ "$(printf '%s\n' "$tag" | wc -l)" -eq 1 ] || die "more than one release in $checksums: $(tr '\n' ' ' <<< "$tag")"
# goreleaser's metadata.json says which version it built; the archives must
# carry the same one (name_template is "v{{ .Version }}").
if [ -f "$dist/metadata.json" ]; then
  version=$(tr -d '\n' < "$dist/metadata.json" | sed -n 's/.*"version": *"\([^"]*\)".*/\1/p')
  [ "v$version" = "$tag" ] || die "archives are named for $tag but goreleaser built version $version"
fi

sha_of() { # archive basename -> sha256 from checksums.txt
  awk -v f="$1" '$2 == f || $2 == "*" f { print $1; exit }' "$checksums"
}

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
tagref='\{\{[[:space:]]*\.TagName[[:space:]]*\}\}'
addline='^([[:space:]]*)\{\{[[:space:]]*addURIAndSha[[:space:]]+"([^"]+)"[[:space:]]+\.TagName[[:space:]]*\}\}[[:space:]]*$'
used=()
while IFS= read -r line || [ -n "$line" ]; do
  if [[ $line =~ $addline ]]; then
    indent=${BASH_REMATCH[1]}
    url=${BASH_REMATCH[2]}
    while [[ $url =~ $tagref ]]; do url=${url/"${BASH_REMATCH[0]}"/$tag}; done
    file=${url##*/}
    sha=$(sha_of "$file")
    [ -n "$sha" ] || die "the template names $file, which goreleaser did not build (not in $checksums): do .goreleaser.yaml's archive name_template and krew-manifest.yaml agree?"
    if [ -f "$dist/$file" ]; then
      actual=$(sha256sum "$dist/$file" | cut -d' ' -f1)
      [ "$actual" = "$sha" ] || die "$dist/$file has sha256 $actual, checksums.txt says $sha"
    fi
    [ "$local_uri" = 1 ] && url=file://$dist/$file
    printf '%suri: %s\n%ssha256: %s\n' "$indent" "$url" "$indent" "$sha" >> "$tmp"
    used+=("$file")
    continue
  fi
  while [[ $line =~ $tagref ]]; do line=${line/"${BASH_REMATCH[0]}"/$tag}; done
  case $line in *'{{'*) die "template syntax this script does not render: $line" ;; esac
  printf '%s\n' "$line" >> "$tmp"
done < "$template"

# Every archive goreleaser made must be installable through the manifest.
while read -r _ file; do
  file=${file#\*}
  case $file in ${project}_*.tar.gz|${project}_*.zip) ;; *) continue ;; esac
  found=0
  for u in "${used[@]}"; do [ "$u" = "$file" ] && found=1; done
  [ "$found" = 1 ] || die "$file is in $checksums but no platform of krew-manifest.yaml uses it"
done < "$checksums"

mkdir -p "$(dirname "$out")"
chmod 644 "$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "rendered $out: version $tag, ${#used[@]} platforms, from $dist"
