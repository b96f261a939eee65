#!/usr/bin/env bash
# An emulated aarch64 "device" on an x86 Debian host: Debian's arm64 Python unpacked into ROOT and run by
# qemu-user (no chroot, no binfmt needed), with the aarch64 wheels a bundle needs installed into ROOT/site.
#
#   sudo bash benchmarks/emulated_aarch64.sh /srv/arm64            # once (root: apt-get)
#   edgecnn device run model.onnx --host local \
#     --python "env PYTHONPATH=/srv/arm64/site /srv/arm64/qemu-aarch64 -L /srv/arm64 /srv/arm64/usr/bin/python3.11"
#
# Latency under an emulator is not a device's latency (qemu translates every instruction): use it for
# accuracy, for the protocol and for the aarch64 code paths, never for speed. ONNX Runtime: 1.20.1 runs under
# qemu-user 7.2; 1.31.1's aarch64 wheel crashed on import there (ORT_VERSION to try another). LiteRT (a .tflite
# bundle): ai-edge-litert's aarch64 wheel (LITERT_VERSION; empty to leave it out). ncnn (a .param bundle): ncnn's
# aarch64 wheel (NCNN_VERSION; empty to leave it out), with its own libgomp; it pulls tqdm, requests, portalocker.
#
# qemu: Debian 12's qemu-user 7.2 runs ONNX Runtime, but ai-edge-litert 2.3's Interpreter dies there with SIGSEGV
# (any -cpu, XNNPACK on or off); Debian 13's qemu-user 10.0 runs it. Its binaries are static, so they are taken
# from Debian 13's package (looked up in its index) into ROOT/.qemu, whatever the host's release, and
# ROOT/qemu-aarch64 points at the one to use (QEMU=/path/to/qemu-aarch64 to choose another).
set -euo pipefail
ROOT=${1:-/srv/arm64}
ORT_VERSION=${ORT_VERSION:-1.20.1}
LITERT_VERSION=${LITERT_VERSION-2.3.0}
NCNN_VERSION=${NCNN_VERSION-1.0.20261020}
QEMU=${QEMU:-}
PYVER=3.11
MIRROR=${MIRROR:-http://deb.debian.org/debian}
export DEBIAN_FRONTEND=noninteractive
mkdir -p "$ROOT"
if [ -z "$QEMU" ]; then
  curl -fsS -o "$ROOT/Packages.xz" "$MIRROR/dists/trixie/main/binary-amd64/Packages.xz"
  file=$(xz -dc "$ROOT/Packages.xz" | awk '/^Package: qemu-user$/ {p = 1} p && /^Filename:/ {f = $2; p = 0} END {print f}')
  rm "$ROOT/Packages.xz"
  curl -fsS -o "$ROOT/qemu-user.deb" "$MIRROR/$file"
  rm -rf "$ROOT/.qemu" && dpkg-deb -x "$ROOT/qemu-user.deb" "$ROOT/.qemu" && rm "$ROOT/qemu-user.deb"
  QEMU="$ROOT/.qemu/usr/bin/qemu-aarch64"
fi
ln -sf "$QEMU" "$ROOT/qemu-aarch64"
"$ROOT/qemu-aarch64" --version | head -1
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
fi
apt-get update -qq
mkdir -p "$ROOT/.debs"
cd "$ROOT/.debs"
# python3.11 and everything it needs (libstdc++ for the wheels' C++ code), arm64 builds
packages=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
  --no-enhances --no-pre-depends python$PYVER:arm64 libstdc++6:arm64 libgomp1:arm64 \
  | grep -E '^[a-z0-9].*:arm64$' | sort -u)
apt-get download $packages >/dev/null
for deb in *.deb; do dpkg-deb -x "$deb" "$ROOT"; done
cd / && rm -rf "$ROOT/.debs"
# the bundle's requirements, aarch64 wheels for this Python, installed by the host's pip into ROOT/site
python3 -m pip install -q --target "$ROOT/site" --platform manylinux2014_aarch64 --platform manylinux_2_27_aarch64 \
  --platform manylinux_2_28_aarch64 \
  --python-version $PYVER --implementation cp --only-binary=:all: numpy pillow "onnxruntime==$ORT_VERSION" \
  ${LITERT_VERSION:+"ai-edge-litert==$LITERT_VERSION"} ${NCNN_VERSION:+"ncnn==$NCNN_VERSION"}
env PYTHONPATH="$ROOT/site" "$ROOT/qemu-aarch64" -L "$ROOT" "$ROOT/usr/bin/python$PYVER" -c \
  "import platform, numpy, PIL, onnxruntime; print(platform.machine(), 'numpy', numpy.__version__, 'onnxruntime', onnxruntime.__version__)"
if [ -n "$LITERT_VERSION" ]; then
  env PYTHONPATH="$ROOT/site" "$ROOT/qemu-aarch64" -L "$ROOT" "$ROOT/usr/bin/python$PYVER" -c \
    "import platform, ai_edge_litert.interpreter; from importlib.metadata import version; print(platform.machine(), 'ai-edge-litert', version('ai-edge-litert'))"
fi
if [ -n "$NCNN_VERSION" ]; then
  env PYTHONPATH="$ROOT/site" "$ROOT/qemu-aarch64" -L "$ROOT" "$ROOT/usr/bin/python$PYVER" -c \
    "import platform, ncnn; print(platform.machine(), 'ncnn', ncnn.__version__, 'fp16 arithmetic (asimdhp):', bool(ncnn.cpu_support_arm_asimdhp()))"
fi
