#!/usr/bin/env bash
# Builds Kinetic's images without pulling anything: static binaries are
# compiled on the host (CGO_ENABLED=0, as release tools such as goreleaser
# do) and copied onto scratch with the host's CA bundle. Then makes the
# compose stack's NATS certificates and nkeys in deploy/secrets/nats/ if they
# are not there yet (deploy/certgen; KINETIC_NATS_SANS adds host names).
#
#   deploy/build-images.sh            # kinetic/{worker,producer,sfsim,nats,console}:dev
#   TAG=1.0 deploy/build-images.sh    # compose and the tests take KINETIC_IMAGE_TAG=1.0
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${TAG:-${KINETIC_IMAGE_TAG:-dev}}"
out=deploy/.build
rm -rf "$out"
mkdir -p "$out"

command -v docker >/dev/null || { echo "build-images: docker is not installed" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "build-images: the Docker engine is not reachable (is the daemon running?)" >&2; exit 1; }

ca=/etc/ssl/certs/ca-certificates.crt
[ -f "$ca" ] || { echo "build-images: $ca is missing (apt-get install ca-certificates)" >&2; exit 1; }
cp "$ca" "$out/"
cp -r examples "$out/examples"
# An empty directory the Dockerfiles copy to /keys (sfsim) and /out (producer)
# owned by 65532: Docker gives an empty named volume mounted there the same
# owner, so the non-root containers can write to it (deploy/docker-compose.yaml).
mkdir -p "$out/empty"

export CGO_ENABLED=0 GOOS=linux
flags=(-trimpath -ldflags "-s -w")
for cmd in worker producer sfsim console; do
  go build "${flags[@]}" -o "$out/$cmd" "./cmd/$cmd"
done
go build "${flags[@]}" -o "$out/probe" ./deploy/probe
# nats-server at the version go.mod pins (tool directive).
go build "${flags[@]}" -o "$out/nats-server" github.com/nats-io/nats-server/v2

for img in worker producer sfsim nats console; do
  if ! docker build --quiet -f "deploy/docker/$img.Dockerfile" -t "kinetic/$img:$tag" "$out" >"$out/docker-build.log" 2>&1; then
    cat "$out/docker-build.log" >&2
    echo "build-images: building kinetic/$img:$tag failed" >&2
    exit 1
  fi
  echo "built kinetic/$img:$tag"
done

# The NATS material of deploy/docker-compose.yaml, for the host (not an image).
GOOS= go run ./deploy/certgen
