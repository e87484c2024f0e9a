#!/usr/bin/env bash
# Installs what Cadenza needs on a Debian machine: system packages with no wheel
# (FluidSynth + a General MIDI SoundFont, eSpeak NG, ffmpeg), then the virtual
# environment in .venv with the pinned Python dependencies. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

EXTRA="${1:-}"   # "dev" also installs the test tools
APT_PACKAGES=(libfluidsynth3 fluid-soundfont-gm espeak-ng libespeak-ng1 libflite1 ffmpeg libsndfile1 fonts-dejavu-core python3-venv python3-dev g++)
# The web console's browser tests drive Debian's Chromium through Playwright.
if [ "$EXTRA" = "dev" ]; then APT_PACKAGES+=(chromium); fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "Installing system packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.cadenza-installed-${EXTRA:-base}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  if [ "$EXTRA" = "dev" ]; then
    .venv/bin/python -m pip install -q -e ".[dev]"
  else
    .venv/bin/python -m pip install -q -e .
  fi
  touch "$stamp"
fi
