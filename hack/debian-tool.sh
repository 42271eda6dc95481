#!/usr/bin/env bash
# Unpacks one program from a Debian package into _output/bin without
# installing anything: apt-get download (into _output/debs) and dpkg -x
# (into _output/debian/PACKAGE). Usage:
#   hack/debian-tool.sh PACKAGE VERSION PATH-IN-PACKAGE
# e.g. hack/debian-tool.sh shellcheck 0.9.0-1 usr/bin/shellcheck
set -euo pipefail
pkg=$1 version=$2 path=$3
root=$(cd "$(dirname "$0")/.." && pwd)
debs=$root/_output/debs
tree=$root/_output/debian/$pkg
bin=$root/_output/bin
mkdir -p "$debs" "$bin"
cd "$debs"

deb=${pkg}_${version//:/%3a}_$(dpkg --print-architecture).deb
if [ ! -s "$deb" ]; then
  if ! apt-get -o APT::Sandbox::User=root download "$pkg=$version"; then
    # A fresh machine may have no package lists yet.
    echo "apt-get download $pkg=$version failed; refreshing the package lists and trying again" >&2
    if [ "$(id -u)" != 0 ]; then
      echo "apt-get update needs root: run it (sudo apt-get update), then make again" >&2
      exit 1
    fi
    apt-get update -qq
    apt-get -o APT::Sandbox::User=root download "$pkg=$version"
  fi
fi
rm -rf "$tree"
mkdir -p "$(dirname "$tree")"
dpkg -x "$deb" "$tree"
out=$bin/$(basename "$path")
install -m 0755 "$tree/$path" "$out"
# The program runs from _output only if the machine has its shared
# libraries (Debian's shellcheck needs libffi8 and libgmp10, present on a
# standard Debian system).
if missing=$(ldd "$out" 2>/dev/null | grep 'not found'); then
  echo "$out needs shared libraries this machine lacks:" >&2
  echo "$missing" >&2
  rm -f "$out"
  exit 1
fi
echo "$out: $pkg $version from $deb"
"$out" --version | head -3
