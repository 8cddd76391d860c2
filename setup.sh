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
if ((${#missing[@]})); then
  SUDO=$([ "$(id -u)" -eq 0 ] && echo "" || echo sudo)
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]'
.venv/bin/reelkit analyze examples/demo.mp4 --headline "what they want to do" -o out
echo "Report of the bundled example: out/report.html (and out/report.json)"
