#!/usr/bin/env bash
# Installs what JARVIS Memory needs into a virtualenv shared by every clone on this machine
# (default ~/.cache/jarvis/venv), once; later runs only compare a stamp and return. The main job
# gets the runtime dependencies; JARVIS_BOOTSTRAP_TEST=1 adds the test extra, JARVIS_BOOTSTRAP_PEER=1
# the benchmark's peer.
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

# install GROUP STAMP: pyproject.toml's runtime dependencies ("runtime") or an extra's, once per
# change of the list (the stamp file records what was installed).
install() {
  local requirements
  requirements=$("$VENV/bin/python" - "$ROOT/pyproject.toml" "$1" <<'PY'
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
group = sys.argv[2]
print("\n".join(project["dependencies"] if group == "runtime" else project["optional-dependencies"][group]))
PY
)
  if [ "$(cat "$2" 2>/dev/null)" != "$requirements" ]; then
    say "installing the $1 dependencies into $VENV (the first time, the runtime ones download a few GB: torch)"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    printf '%s\n' "$requirements" > "$VENV/.requirements-$1.txt"
    "$VENV/bin/python" -m pip install --quiet -r "$VENV/.requirements-$1.txt"
    printf '%s' "$requirements" > "$2"
  fi
}
# The main job needs the runtime dependencies only; the test suite and CI (JARVIS_BOOTSTRAP_TEST=1)
# add the `test` extra (pytest, ruff, schemathesis, LangChain/LangGraph, matplotlib for the plot).
install runtime "$VENV/.jarvis-requirements-runtime"
if [ "${JARVIS_BOOTSTRAP_TEST:-0}" = 1 ]; then install test "$VENV/.jarvis-requirements-test"; fi

# The embedder's ONNX export, made once per model from the packaged weights into
# $CACHE/onnx/<model checksum>/ (no download: torch exports, ONNX Runtime optimises). A valid
# export is only checked (a second); a failed export leaves torch serving, so it does not stop
# the set-up (the server says why at start-up, and `jarvis embedder export` tells more).
if ! PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$VENV/bin/python" -m jarvis.embedder_export \
     --cache-dir "$CACHE" >/dev/null; then
  say "the ONNX export of the embedder failed: torch will serve (see the message above)"
fi

# The benchmark's peer (Mem0 OSS) in a virtualenv of its own (jarvis/bench/peer_env.py): the
# benchmark installs it when it first runs it; the test suite asks for it here
# (JARVIS_BOOTSTRAP_PEER=1) so that no test downloads. The main job does not need it.
if [ "${JARVIS_BOOTSTRAP_PEER:-0}" = 1 ]; then
  PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$VENV/bin/python" -m jarvis.bench.peer_env --cache-dir "$CACHE"
fi
