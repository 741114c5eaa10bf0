# Sourced by scripts/setup (and by tests/test_setup_services.py against scratch servers):
# start PostgreSQL, MariaDB and Redis when they are stopped, and make sure the logins the lab,
# the demo and the tests use work: `postgres` and MariaDB's `root` from 127.0.0.1 without a
# password. Debian's own defaults refuse both (PostgreSQL: scram-sha-256 from 127.0.0.1;
# MariaDB: root only through unix_socket); these functions change that once, say so, and
# fail loudly (exit status 1, a message naming the server) instead of leaving the demo to fail
# minutes later. Needs: say, as_root (scripts/setup defines them).

# tcp_open PORT: something accepts connections on 127.0.0.1:PORT
tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for SECONDS COMMAND...: retry COMMAND once a second until it succeeds
wait_for() {
  local n=$1; shift
  for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 1; done
  "$@"
}

# as_user USER COMMAND...: run as USER (the database's own account, for peer/socket logins)
as_user() {
  local u=$1; shift
  if [ "$(id -un)" = "$u" ]; then "$@"; else as_root runuser -u "$u" -- "$@"; fi
}

pg_login_ok() {  # PORT
  psql -h 127.0.0.1 -p "$1" -U postgres -w -Atqc 'select 1' postgres >/dev/null 2>&1
}

# pg_ensure PORT [SOCKET_DIR]: PostgreSQL answers on 127.0.0.1:PORT and lets `postgres` in
# from 127.0.0.1/::1 without a password (two trust lines put first in its pg_hba.conf).
pg_ensure() {
  local port=$1 sock=${2:-/var/run/postgresql} ver hba tmp
  if ! pg_isready -q -h 127.0.0.1 -p "$port" 2>/dev/null; then
    ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
    if [ -z "$ver" ]; then
      ver=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1)
      say "PostgreSQL: no cluster yet: creating $ver/main (pg_createcluster)"
      as_root pg_createcluster "$ver" main -p "$port" >/dev/null
    fi
    say "starting PostgreSQL $ver/main on 127.0.0.1:$port"
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
    if ! wait_for 30 pg_isready -q -h 127.0.0.1 -p "$port"; then
      say "ERROR: PostgreSQL does not answer on 127.0.0.1:$port after 30 s" \
        "(pg_lsclusters; its log in /var/log/postgresql/)"
      return 1
    fi
  fi
  pg_login_ok "$port" && return 0
  hba=$(as_user postgres psql -h "$sock" -p "$port" -Atqc 'show hba_file' postgres) || {
    say "ERROR: PostgreSQL on 127.0.0.1:$port refuses user postgres without a password, and" \
      "its pg_hba.conf could not be found as the postgres user over $sock"
    return 1
  }
  say "PostgreSQL: letting role postgres log in from 127.0.0.1 and ::1 without a password" \
    "(the lab's and the tests' login; two 'trust' lines put first in $hba)"
  tmp=$(mktemp)
  {
    echo "# shangyun scripts/setup: postgres from this machine without a password (lab, tests)"
    echo "host    all    postgres    127.0.0.1/32    trust"
    echo "host    all    postgres    ::1/128         trust"
    as_root cat "$hba"
  } >"$tmp"
  as_root sh -c 'cat "$1" >"$2"' _ "$tmp" "$hba"  # in place: keeps the file's owner and mode
  rm -f "$tmp"
  as_user postgres psql -h "$sock" -p "$port" -Atqc 'select pg_reload_conf()' postgres >/dev/null
  if ! wait_for 5 pg_login_ok "$port"; then
    say "ERROR: PostgreSQL on 127.0.0.1:$port still refuses postgres without a password" \
      "(see $hba)"
    return 1
  fi
}

my_login_ok() {  # PORT
  mariadb --protocol=tcp -h 127.0.0.1 -P "$1" -uroot -e 'select 1' >/dev/null 2>&1
}

# my_ensure PORT [SOCKET] [START_COMMAND...]: MariaDB answers on 127.0.0.1:PORT (started with
# START_COMMAND, default the machine's mariadbd, when nothing listens) and its root logs in
# over TCP from 127.0.0.1 without a password (root@localhost keeps its unix_socket login).
my_ensure() {
  local port=$1 sock=${2:-/run/mysqld/mysqld.sock}
  shift $(( $# < 2 ? $# : 2 ))
  if ! tcp_open "$port"; then
    say "starting MariaDB on 127.0.0.1:$port"
    if [ $# -gt 0 ]; then
      "$@" || true
    else
      as_root mkdir -p /run/mysqld && as_root chown mysql:mysql /run/mysqld 2>/dev/null || true
      # --pidfile: another mariadbd (a lab host's, a test's) is not this server
      as_root start-stop-daemon --start --oknodo --background \
        --pidfile /run/mysqld/mysqld.pid --exec /usr/sbin/mariadbd -- \
        --user=mysql --bind-address=127.0.0.1 --port="$port" \
        --pid-file=/run/mysqld/mysqld.pid >/dev/null 2>&1 || true
    fi
    if ! wait_for 30 tcp_open "$port"; then
      say "ERROR: MariaDB does not answer on 127.0.0.1:$port after 30 s" \
        "(its log: /var/log/mysql/error.log or journalctl -u mariadb)"
      return 1
    fi
  fi
  wait_for 10 my_login_ok "$port" && return 0
  say "MariaDB: letting root log in from 127.0.0.1 without a password (the lab's and the" \
    "tests' login; root@localhost keeps unix_socket, gains an empty password; root@127.0.0.1)"
  if ! as_root mariadb -uroot --socket="$sock" -e "
      ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket
        OR mysql_native_password USING PASSWORD('');
      CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
      GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"; then
    say "ERROR: MariaDB on 127.0.0.1:$port refuses root without a password, and root could" \
      "not log in over its socket $sock to allow it"
    return 1
  fi
  if ! my_login_ok "$port"; then
    say "ERROR: MariaDB on 127.0.0.1:$port still refuses root without a password"
    return 1
  fi
}

# redis_ensure PORT: Redis answers PONG on 127.0.0.1:PORT (nothing persisted)
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]; }
redis_ensure() {
  local port=$1
  redis_up "$port" && return 0
  say "starting Redis on 127.0.0.1:$port"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$port" --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/redis-server.log || true
  if ! wait_for 30 redis_up "$port"; then
    say "ERROR: Redis does not answer on 127.0.0.1:$port after 30 s" \
      "(its log: /var/log/redis/redis-server.log)"
    return 1
  fi
}
