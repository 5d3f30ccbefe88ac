#!/usr/bin/env bash
# A throw-away PostgreSQL server for the multi-worker tuning test (tests/test_tune_workers.py).
#
#   eval "$(.ci/postgres.sh)"        # start (or reuse) it; sets CHAINRULE_TEST_POSTGRES_URL
#   .ci/postgres.sh stop             # stop it and delete its data directory
#   .ci/postgres.sh status           # exit 0 if running
#
# Only `export ...` lines go to stdout; messages go to stderr. Idempotent: a second `start`
# reprints the URL of the running server. The server listens on 127.0.0.1 only, on a free
# port, with its unix socket in its temporary directory; it runs as the `postgres` system
# user when started by root (postgres refuses to run as root), else as the calling user.
# If no server binaries are found it installs them with apt-get (unless --no-install).
# State file: $CHAINRULE_PG_STATE (default /tmp/chainrule-postgres.env).
set -euo pipefail

cmd=start
install=1
for arg in "$@"; do
  case "$arg" in
    start|stop|status) cmd=$arg ;;
    --no-install) install=0 ;;
    *) echo "usage: $0 [start|stop|status] [--no-install]" >&2; exit 2 ;;
  esac
done

state=${CHAINRULE_PG_STATE:-/tmp/chainrule-postgres.env}
say() { echo "postgres.sh: $*" >&2; }

find_bindir() {
  local p
  if p=$(command -v pg_ctl 2>/dev/null); then
    dirname "$(readlink -f "$p")"
    return 0
  fi
  p=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$p" ] && [ -x "$p/pg_ctl" ] && { echo "$p"; return 0; }
  return 1
}

# as_db CMD...: run a server binary as the database's owner.
as_db() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

running() {
  [ -f "$state" ] || return 1
  # shellcheck disable=SC1090
  . "$state"
  as_db "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1
}

print_env() {
  echo "export CHAINRULE_TEST_POSTGRES_URL=$PG_URL"
  echo "# stop it with: $0 stop" 
}

case "$cmd" in
  status)
    if running; then say "running on port $PG_PORT ($PG_DIR)"; print_env; exit 0; fi
    say "not running"; exit 1 ;;
  stop)
    if [ -f "$state" ]; then
      # shellcheck disable=SC1090
      . "$state"
      as_db "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
      rm -rf "$PG_DIR" "$state"
      say "stopped and removed $PG_DIR"
    else
      say "no server recorded in $state"
    fi
    exit 0 ;;
esac

# --- start
if running; then
  say "already running on port $PG_PORT ($PG_DIR)"
  print_env
  exit 0
fi
rm -f "$state"

if ! bindir=$(find_bindir); then
  if [ "$install" -eq 0 ]; then say "no PostgreSQL server binaries (pg_ctl) found"; exit 1; fi
  say "installing PostgreSQL with apt-get (quietly)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq postgresql >/dev/null
  bindir=$(find_bindir) || { say "pg_ctl still not found after installing postgresql"; exit 1; }
fi

if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi

dir=$(mktemp -d /tmp/chainrule-pg.XXXXXX)
chmod 755 "$dir"
[ "$(id -u)" -eq 0 ] && chown postgres "$dir"
port=$(python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
)

# Local (unix socket) connections are trusted, so this script can create the role; TCP needs the password.
as_db "$bindir/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
  -E UTF8 --no-instructions --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
# fsync off: a throw-away test server, durability does not matter, speed does.
as_db "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
  -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=60 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }

user=chainrule
password=chainrule
db=chainrule_test
as_db "$bindir/psql" -q -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
  -c "CREATE ROLE $user LOGIN PASSWORD '$password'" -c "CREATE DATABASE $db OWNER $user" >/dev/null

PG_URL="postgresql+psycopg://$user:$password@127.0.0.1:$port/$db"
cat >"$state" <<EOF
PG_DIR=$dir
PG_PORT=$port
PG_BINDIR=$bindir
PG_URL=$PG_URL
EOF
say "started PostgreSQL on 127.0.0.1:$port (data in $dir)"
PG_DIR=$dir
print_env
