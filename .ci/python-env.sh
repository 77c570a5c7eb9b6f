#!/usr/bin/env bash
# Creates the Python virtual environment of scim-client's interoperability test: the SCIM server
# scim2-server from PyPI, at the versions pinned in .ci/interop-requirements.txt; and of
# conformance-tests' third-party checkers (conformance-tests/tests/it/third_party.rs): scim2-tester
# and scim-sanity from PyPI, at the versions pinned in `checkers` below.
#
#   bash .ci/python-env.sh
#   SCIM_INTEROP_PYTHON=.venv-interop/bin/python cargo test -p scim-client --test it interop
#   SCIM_INTEROP_PYTHON=.venv-interop/bin/python cargo test -p conformance-tests --test it third_party
#
# The environment goes to .venv-interop at the repository's root, or to $SCIM_INTEROP_VENV.
# Running it again reuses the environment and installs only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${SCIM_INTEROP_VENV:-$PWD/.venv-interop}"
requirements=.ci/interop-requirements.txt
# The third-party conformance checkers and what they add to the set above (scim2-tester talks HTTP
# through scim2-client's httpx2 engine). To move to newer versions: install
# 'scim2-tester[httpx2]==NEW' 'scim-sanity==NEW' with the requirements above in a fresh venv, run
# the third_party test, and copy the new lines of `pip freeze` here.
checkers=(
  scim2-tester==0.5.2
  scim-sanity==0.7.4
  scim2-client==0.13.2
  httpx2==2.16.2
  httpcore2==2.16.2
  h11==0.16.0
  anyio==4.16.0
  truststore==0.10.5
  click==8.5.1
)

if [ ! -x "$venv/bin/python" ]; then
  echo "python-env: creating $venv"
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "python-env: scim2-server needs Python >= 3.11; $venv has $("$venv/bin/python" --version)" >&2
  exit 1
fi
# Skip the network when the pinned set is already installed.
want="$({ grep -Ev '^\s*(#|$)' "$requirements"; printf '%s\n' "${checkers[@]}"; } | tr 'A-Z_' 'a-z-' | sort)"
have="$("$venv/bin/python" -m pip freeze --disable-pip-version-check 2>/dev/null | tr 'A-Z_' 'a-z-' | sort)"
if [ "$(comm -23 <(echo "$want") <(echo "$have"))" != "" ]; then
  "$venv/bin/python" -m pip install --disable-pip-version-check --quiet --no-input \
    --requirement "$requirements" "${checkers[@]}"
fi
# Fails loudly if the install is broken.
"$venv/bin/python" -c "import scim2_server.testserver.cli, scim2_server.cursor, scim2_tester, scim2_client.engines.httpx2, scim_sanity.probe.runner"
versions="$("$venv/bin/python" -m pip show scim2-server scim2-tester scim-sanity 2>/dev/null |
  awk '/^Name:/ {n = $2} /^Version:/ {printf "%s%s %s", sep, n, $2; sep = ", "}')"
echo "python-env: $venv/bin/python with $versions"
