#!/usr/bin/env bash
# Creates the Python virtual environment of scim-client's interoperability test: the SCIM server
# scim2-server from PyPI, at the versions pinned in .ci/interop-requirements.txt.
#
#   bash .ci/python-env.sh
#   SCIM_INTEROP_PYTHON=.venv-interop/bin/python cargo test -p scim-client --test it interop
#
# The environment goes to .venv-interop at the repository's root, or to $SCIM_INTEROP_VENV.
# Running it again reuses the environment and installs only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${SCIM_INTEROP_VENV:-$PWD/.venv-interop}"
requirements=.ci/interop-requirements.txt

if [ ! -x "$venv/bin/python" ]; then
  echo "python-env: creating $venv"
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "python-env: scim2-server needs Python >= 3.11; $venv has $("$venv/bin/python" --version)" >&2
  exit 1
fi
# Skip the network when the pinned set is already installed.
want="$(grep -Ev '^\s*(#|$)' "$requirements" | tr 'A-Z_' 'a-z-' | sort)"
have="$("$venv/bin/python" -m pip freeze --disable-pip-version-check 2>/dev/null | tr 'A-Z_' 'a-z-' | sort)"
if [ "$(comm -23 <(echo "$want") <(echo "$have"))" != "" ]; then
  "$venv/bin/python" -m pip install --disable-pip-version-check --quiet --no-input \
    --requirement "$requirements"
fi
"$venv/bin/python" -c "import scim2_server.testserver.cli, scim2_server.cursor" # fails loudly if the install is broken
echo "python-env: $venv/bin/python with $("$venv/bin/python" -m pip show scim2-server 2>/dev/null | grep '^Version' | sed 's/Version: /scim2-server /')"
