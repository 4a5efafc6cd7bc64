#!/usr/bin/env bash
# Makes the README's screenshots from real runs: a server and three clients
# in tmux, a fourth person in the browser page (headless Chromium, driven by
# screenshot/page.py over WebDriver), a conversation typed into them, and a
# client aimed at the wrong port. ana is the room's operator: she sets the
# topic and kicks a spammer (max, a fifth client, not photographed). Each
# terminal is captured with its colours and rendered to a PNG, and the page
# is photographed by Chromium itself.
#
# Needs tmux, the DejaVu fonts, Chromium and chromedriver (Debian: tmux
# fonts-dejavu-core chromium chromium-driver) and, from PyPI, pillow and
# pyte; it installs what is missing. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
out=screenshot
port=${SCREENSHOT_PORT:-18080}
cols=84
rows=20

command -v tmux >/dev/null || { apt-get update -qq && apt-get install -y -qq tmux fonts-dejavu-core; }
[ -x /usr/bin/chromedriver ] || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver; }
python3 -c 'import PIL, pyte' 2>/dev/null || pip install --quiet pillow pyte

cargo build --release --bin server --bin client
bin=$PWD/target/release
socket=chat-screens-$$
tmux_() { tmux -L "$socket" "$@"; }
profile=$(mktemp -d)
driver_pid=
cleanup() {
  tmux_ kill-server 2>/dev/null || true
  [ -z "$driver_pid" ] || kill "$driver_pid" 2>/dev/null || true
  rm -rf "$profile"
}
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
  tmux_ new-session -d -s "$pane" -x "$width" -y "$rows" -c "$profile" \
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

# The operator's secret, in a file as a person would keep it.
echo "lunch-ops-$$" > "$profile/op-token"
terminal server "CHAT_OP_TOKEN=\$(cat op-token) server --port $port" 100
wait_for server "listening on"
terminal ana "client --port $port --name ana --op-token-file op-token"
wait_for ana "ana joined lobby"
# Types LINE in PANE, then waits for WANTED on ana's screen.
say() { tmux_ send-keys -t "$1" -l "$2"; tmux_ send-keys -t "$1" Enter; wait_for ana "$3"; }
say ana "/topic lunch on Friday: where and when?" "set the topic"
for name in bo cy; do
  terminal "$name" "client --port $port --name $name"
  wait_for "$name" "$name joined lobby"
done

# dee joins from a browser: chromedriver, then the page with ?name=.
driver_port=$((port + 2))
chromedriver --port="$driver_port" > "$profile/chromedriver.log" 2>&1 &
driver_pid=$!
for _ in $(seq 100); do
  grep -q "started successfully" "$profile/chromedriver.log" && break
  sleep 0.1
done
export WEBDRIVER=http://127.0.0.1:$driver_port CHROMIUM_PROFILE=$profile/chromium
page() { python3 "$out/page.py" "$@"; }
dee=$(page open "http://127.0.0.1:$port/lobby?name=dee")
page wait "$dee" "you are dee in lobby"
wait_for ana "dee joined lobby"

say ana "hi all! who's up for lunch?" "ana: hi all"
say bo "me! the usual place?" "bo: me!"
page say "$dee" "count me in, I'll be 10 minutes late"
wait_for ana "dee: count me in"
say cy "/me waves" "* cy waves"
say cy "yes, at noon" "cy: yes, at noon"
terminal max "client --port $port --name max"
wait_for ana "max joined lobby"
say max "CHEAP WATCHES!!! visit my site" "max: CHEAP"
say ana "/kick max not here, please" "max was kicked"
say bo "/msg ana can you book a table?" "ana: hi all"
wait_for ana "[private] bo:"
say ana "done, table for four" "ana: done"
# cy is half-way through a line when bo speaks: the typed text stays put.
tmux_ send-keys -t cy -l "bringing the sna"
say bo "see you there" "bo: see you there"
wait_for cy "bo: see you there"
page wait "$dee" "bo: see you there"

terminal oops "client --port $((port + 1))" 136
wait_for oops "error:"

shoot server "server"
shoot ana "client: ana"
shoot bo "client: bo"
shoot cy "client: cy (typing)"
shoot oops "client aimed at the wrong port"
page shoot "$dee" "$out/page.png" 900 560
page shoot "$dee" "$out/page-phone.png" 390 700
page close "$dee"
echo "screenshots written to $out/"
