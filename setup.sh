#!/usr/bin/env bash
# Installs reelkit and everything it needs into .venv, then analyses the bundled example into out/.
set -euo pipefail
cd "$(dirname "$0")"
APT_PACKAGES=(
  ffmpeg tesseract-ocr tesseract-ocr-eng fortunes fortunes-min
  fonts-dejavu-core fonts-dejavu-extra fonts-liberation2 fonts-croscore fonts-open-sans fonts-roboto-unhinted
  fonts-lato fonts-cantarell fonts-comfortaa fonts-inter fonts-league-spartan fonts-quicksand fonts-freefont-ttf
  fonts-noto-core fonts-urw-base35 fonts-texgyre fonts-crosextra-carlito fonts-crosextra-caladea fonts-hack
  fonts-jetbrains-mono fonts-firacode fonts-beteckna fonts-manrope fonts-oxygen libgl1 libglib2.0-0 dataset-fashion-mnist
  chromium postgresql
)
missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
SUDO=$([ "$(id -u)" -eq 0 ] && echo "" || echo sudo)
if ((${#missing[@]})); then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]'
# face-api's face detector and 68-point landmark nets (MIT, npm), read by reelkit.faces's own loader.
FACE_API_VERSION=1.7.15
if [ "$(cat .venv/share/face-api/VERSION 2>/dev/null)" != "$FACE_API_VERSION" ]; then
  command -v npm >/dev/null || { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm; }
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "@vladmandic/face-api@$FACE_API_VERSION" >/dev/null \
     && tar xzf "vladmandic-face-api-$FACE_API_VERSION.tgz" package/model package/LICENSE)
  rm -rf .venv/share/face-api && mkdir -p .venv/share/face-api
  cp "$tmp"/package/model/* "$tmp"/package/LICENSE .venv/share/face-api/
  echo "$FACE_API_VERSION" > .venv/share/face-api/VERSION
  rm -rf "$tmp"
fi
.venv/bin/reelkit analyze examples/demo.mp4 --headline "what they want to do" -o out
echo "Report of the bundled example: out/report.html (and out/report.json)"
