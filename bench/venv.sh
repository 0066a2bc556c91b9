# Sourced by the bench scripts: the pinned Python tools of bench/requirements.txt in a private
# virtualenv ($PALISADE_BENCH_VENV, default ~/.cache/palisade-bench-venv), rebuilt when the
# requirements change. Sets $venv.
venv=${PALISADE_BENCH_VENV:-$HOME/.cache/palisade-bench-venv}
want=$(sha256sum bench/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt
  echo "$want" > "$venv/.requirements.sha256"
fi
