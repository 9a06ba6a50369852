#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests: initdb and pg_ctl as the postgres user (initdb
# refuses root) in a fresh temporary folder (under /tmp, which that user can reach wherever the
# checkout is), listening on 127.0.0.1 at a free port, trust authentication, no password.
# Writes the connection URL to DIR/url and the server's folder to DIR/server.
#   scripts/pg_server.sh start DIR    start one (DIR is removed first); prints the URL
#   scripts/pg_server.sh stop DIR     stop it and remove DIR
# Exits 0 without a URL when PostgreSQL is not installed, so the tests that need it skip and
# say why (DIR/unavailable holds the reason).
set -uo pipefail
action=${1:-}
dir=${2:-}
if [[ -z "$action" || -z "$dir" ]]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi
dir=$(realpath -m "$dir")
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "$action" in
  start)
    rm -rf "$dir"
    mkdir -p "$dir"
    if [[ -z "$bin" || ! -x "$bin/initdb" ]]; then
      echo "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install postgresql" >"$dir/unavailable"
      cat "$dir/unavailable"
      exit 0
    fi
    server=$(mktemp -d /tmp/cusweep-pg.XXXXXX)
    echo "$server" >"$dir/server"
    if [[ $(id -u) -eq 0 ]]; then
      if ! id postgres >/dev/null 2>&1; then
        echo "no 'postgres' user to run the server as (initdb refuses root)" >"$dir/unavailable"
        cat "$dir/unavailable"
        exit 0
      fi
      chown postgres "$server"
    fi
    # A free port: ask the kernel for one, then hand it to the server.
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$bin/initdb" -D "$server/data" -U cusweep --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 || {
      echo "initdb failed:" >&2
      cat "$dir/initdb.log" >&2
      exit 1
    }
    as_owner "$bin/pg_ctl" -D "$server/data" -l "$server/server.log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $server -c max_connections=100" \
      start >/dev/null || {
      echo "pg_ctl start failed:" >&2
      cat "$server/server.log" >&2
      exit 1
    }
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U cusweep cusweep_test
    echo "postgresql://cusweep@127.0.0.1:$port/cusweep_test" >"$dir/url"
    cat "$dir/url"
    ;;
  stop)
    server=$(cat "$dir/server" 2>/dev/null)
    if [[ -n "$server" && -f "$server/data/postmaster.pid" && -n "$bin" ]]; then
      as_owner "$bin/pg_ctl" -D "$server/data" -m immediate -w stop >/dev/null 2>&1
    fi
    [[ "$server" == /tmp/cusweep-pg.* ]] && rm -rf "$server"
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
