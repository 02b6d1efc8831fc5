#!/usr/bin/env bash
# Builds statically linked gnatsd, nats-pub and nats-sub and wraps them in a FROM-scratch
# image. Nothing is pulled from a registry. Usage: docker/build.sh [image-name]
set -euo pipefail
cd "$(dirname "$0")/.."
image="${1:-gnatsd-rs:latest}"
target="$(rustc -vV | sed -n 's/^host: //p')"
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --profile docker --target "$target" -p gnatsd -p nats-pub -p nats-sub
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
for bin in gnatsd nats-pub nats-sub; do
  cp "${CARGO_TARGET_DIR:-target}/$target/docker/$bin" "$context/"
done
cp docker/gnatsd.conf docker/Dockerfile "$context/"
docker build --label org.gnatsd-rs.image=1 -t "$image" "$context"
