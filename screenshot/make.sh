#!/usr/bin/env bash
# Makes the README's screenshots from real runs: a server and three clients
# in tmux, a conversation typed into them, and a client aimed at the wrong
# port; each terminal is captured with its colours and rendered to a PNG.
#
# Needs tmux and the DejaVu fonts (Debian: tmux fonts-dejavu-core) and, from
# PyPI, pillow and pyte; it installs what is missing. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
out=screenshot
port=${SCREENSHOT_PORT:-18080}
cols=84
rows=16

command -v tmux >/dev/null || { apt-get update -qq && apt-get install -y -qq tmux fonts-dejavu-core; }
python3 -c 'import PIL, pyte' 2>/dev/null || pip install --quiet pillow pyte

cargo build --release --bin server --bin client
bin=$PWD/target/release
socket=chat-screens-$$
tmux_() { tmux -L "$socket" "$@"; }
cleanup() { tmux_ kill-server 2>/dev/null || true; }
trap cleanup EXIT

# Waits (at most 10 s) until the pane shows TEXT.
wait_for() {
  local pane=$1 text=$2
  for _ in $(seq 100); do
    tmux_ capture-pane -p -t "$pane" | grep -qF -- "$text" && return 0
    sleep 0.1
  done
  echo "timed out waiting for '$text' in $pane" >&2
  tmux_ capture-pane -p -t "$pane" >&2
  return 1
}

# Starts a terminal (COLS wide) and types COMMAND at its prompt.
terminal() {
  local pane=$1 command=$2 width=${3:-$cols}
  tmux_ new-session -d -s "$pane" -x "$width" -y "$rows" \
    "env PATH='$bin:$PATH' PS1='$ ' bash --norc --noprofile"
  tmux_ set-option -t "$pane" status off
  wait_for "$pane" '$'
  tmux_ send-keys -t "$pane" -l "$command"
  tmux_ send-keys -t "$pane" Enter
}

shoot() {
  local pane=$1 title=$2 cursor width
  cursor=$(tmux_ display-message -p -t "$pane" '#{cursor_x},#{cursor_y}')
  width=$(tmux_ display-message -p -t "$pane" '#{pane_width}')
  tmux_ capture-pane -e -p -t "$pane" > "$out/$pane.ans"
  python3 "$out/render.py" "$out/$pane.ans" "$out/$pane.png" \
    --cols "$width" --rows "$rows" --title "$title" --cursor "$cursor"
  rm "$out/$pane.ans"
}

terminal server "RUST_LOG=chat=debug server --port $port" 100
wait_for server "listening on"
for name in ana bo cy; do
  terminal "$name" "client --port $port --name $name"
  wait_for "$name" "$name joined lobby"
done

say() { tmux_ send-keys -t "$1" -l "$2"; tmux_ send-keys -t "$1" Enter; wait_for ana "$3"; }
say ana "hi all! who's up for lunch?" "ana: hi all"
say bo "me! the usual place?" "bo: me!"
say cy "/me waves" "* cy waves"
say cy "yes, at noon" "cy: yes, at noon"
say bo "/msg ana can you book a table?" "ana: hi all"
wait_for ana "[private] bo:"
say ana "done, table for three" "ana: done"
# cy is half-way through a line when bo speaks: the typed text stays put.
tmux_ send-keys -t cy -l "bringing the sna"
say bo "see you there" "bo: see you there"
wait_for cy "bo: see you there"

terminal oops "client --port $((port + 1))" 136
wait_for oops "error:"

shoot server "server"
shoot ana "client: ana"
shoot bo "client: bo"
shoot cy "client: cy (typing)"
shoot oops "client aimed at the wrong port"
echo "screenshots written to $out/"
