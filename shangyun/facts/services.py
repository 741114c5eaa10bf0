"""Facts about what runs: services, processes and the database engines present."""

from __future__ import annotations

import re
from typing import Any

from shangyun.facts.base import Fact, split_format, to_int


class Services(Fact):
    """Running services: ``systemctl`` (killed after ten seconds where ``timeout`` exists:
    a stuck D-Bus), else SysV init scripts' locks/pidfiles and ``chkconfig``.

    Without systemd, each ``/etc/init.d`` script is reported running when its
    ``/var/lock/subsys`` lock or a pidfile with a live pid exists — printed like Debian's
    ``service --status-all`` (``[ + ]  name``); the scripts are never executed. RHEL's and
    SLES's own ``service --status-all`` output parse too. Sample output (CentOS 6
    ``service --status-all``)::

        #fmt sysv
        crond (pid  1620) is running...
        ip6tables: Firewall is not running.
        postmaster (pid  1520) is running...
        sshd is stopped
        #chkconfig
        crond           0:off   1:off   2:on    3:on    4:on    5:on    6:off

    Result: ``{"running": ["crond", "postmaster"], "enabled": ["crond"], "source": "sysv"}``.
    """

    name = "services"

    @classmethod
    def command(cls) -> str:
        return ("if o=$($_sy_t systemctl list-units --type=service --state=running --no-pager "
                "--no-legend --plain 2>/dev/null) && [ -n \"$o\" ]; then echo '#fmt systemd'; "
                f"echo \"$o\"; else echo '#fmt sysv'; {_SYSV_STATUS}; "
                "if command -v chkconfig >/dev/null; then echo '#chkconfig'; chkconfig --list; "
                "fi; fi")

    @classmethod
    def process(cls, lines: list[str]) -> dict[str, Any]:
        fmt, rest = split_format(lines, "sysv")
        running: list[str] = []
        enabled: list[str] = []
        if fmt == "systemd":
            for line in rest:
                parts = line.replace("●", " ").split()
                if len(parts) >= 4 and parts[0].endswith(".service") and parts[3] == "running":
                    running.append(parts[0].removesuffix(".service"))
            return {"running": sorted(set(running)), "enabled": [], "source": "systemd"}
        in_chk = False
        for line in rest:
            if line.startswith("#chkconfig"):
                in_chk = True
                continue
            if in_chk:
                parts = line.split()
                if len(parts) >= 8 and any(p in ("3:on", "5:on") for p in parts[1:]):
                    enabled.append(parts[0])
                continue
            name = _sysv_running(line)
            if name:
                running.append(name)
        return {"running": sorted(set(running)), "enabled": sorted(set(enabled)),
                "source": "sysv"}


# SysV without running anything: an init script counts as running when its subsys lock
# exists (RHEL/CentOS/SLES scripts touch /var/lock/subsys/<name> on start — what RHEL's own
# ``status`` falls back to) or one of its usual pidfiles holds a live pid. Executing every
# script's ``status`` is avoided on purpose: some are slow or heavy (rabbitmqctl boots an
# Erlang VM) and discovery must stay light on legacy production hosts.
_SYSV_STATUS = (
    "( for s in /etc/init.d/*; do [ -f \"$s\" ] && [ -x \"$s\" ] || continue; n=${s##*/}; "
    "case $n in README|skeleton|functions|halt|killall|reboot|single|rc|rcS|*.sh|*.dpkg*) "
    "continue;; esac; st=-; b=${n%-server}; x=; "
    "case $n in mysql*|mariadb*) x='/var/run/mysqld/mysqld.pid /run/mysqld/mysqld.pid';; esac; "
    "for p in /var/lock/subsys/$n /var/run/$n.pid /run/$n.pid /var/run/$n/*.pid "
    "/run/$n/*.pid /var/run/${n}d.pid /run/${n}d.pid /var/run/$b.pid /run/$b.pid $x; do "
    "[ -f \"$p\" ] || continue; "
    "case $p in /var/lock/*) st=+; break;; esac; pid=; read pid rest < \"$p\"; "
    "[ -n \"$pid\" ] && [ -d \"/proc/$pid\" ] && { st=+; break; }; done; "
    "echo \" [ $st ]  $n\"; done )"
)

_RH_RUNNING = re.compile(r"^(?P<name>[\w@.+-]+)(?::)?\s+\(pid\s+[\d ]+\)\s+is running")
_DEB_RUNNING = re.compile(r"^\s*\[\s*\+\s*\]\s+(?P<name>\S+)")
_SUSE_RUNNING = re.compile(r"^Checking for (?:service )?(?P<name>.+?)\s*\.*\s*running\s*$",
                           re.I)


def _sysv_running(line: str) -> str:
    for rx in (_RH_RUNNING, _DEB_RUNNING, _SUSE_RUNNING):
        m = rx.match(line)
        if m:
            return m.group("name").strip()
    return ""


class Processes(Fact):
    """Every process (``ps -eo pid,user,comm,args``, else BusyBox's ``ps -o …``);
    arguments cut at 300 characters and passwords in them masked (see :func:`redact`).

    Sample output::

          PID USER     COMMAND         COMMAND
            1 root     init            /sbin/init
         1520 postgres postmaster      /usr/bin/postmaster -p 5432 -D /var/lib/pgsql/data

    Result: ``[{"pid": 1, "user": "root", "comm": "init", "args": "/sbin/init"}, …]``.
    """

    name = "processes"

    @classmethod
    def command(cls) -> str:
        # BusyBox's ps refuses -e (it lists every process without it) and takes -o
        return ("if o=$(ps -eo pid,user,comm,args 2>/dev/null) && [ -n \"$o\" ]; then "
                "echo \"$o\"; else ps -o pid,user,comm,args 2>/dev/null; fi")

    @classmethod
    def process(cls, lines: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for line in lines[1:]:
            parts = line.split(None, 3)
            if len(parts) < 3 or not parts[0].isdigit():
                continue
            args = redact(parts[3][:300]) if len(parts) > 3 else parts[2]
            out.append({"pid": int(parts[0]), "user": parts[1], "comm": parts[2],
                        "args": args})
        return out


_SECRET_OPT = re.compile(
    r"(?i)(?P<k>(?:--?|\b)[\w.-]*(?:pass|pwd|secret|token|api[_-]?key|access[_-]?key|"
    r"credential|masterauth)[\w.-]*)(?P<sep>[=:]|\s+)(?P<v>\S+)")
_MYSQL_P = re.compile(r"(?<=\s)-p(?!\s)\S+")
_URL_CRED = re.compile(r"(?P<pre>://[^/\s:@]+:)[^@\s/]+(?=@)")
# Oracle / 达梦 / Kingbase connect strings: user/password@service
_CONNECT = re.compile(r"(?P<pre>(?:^|\s)[A-Za-z_][\w$#]*/)[^\s/@]+(?=@)")
# curl -u / --user user:password
_USER_COLON = re.compile(r"(?P<pre>(?:^|\s)(?:-u|--user)\s*[^\s:]+:)\S+")
# programs whose password flag is a bare letter: redis-cli -a, sshpass -p
_FLAG_BY_PROGRAM = {"redis-cli": "-a", "sshpass": "-p"}


def redact(args: str) -> str:
    """A command line with secrets replaced by ``***``: ``--password=x``, ``password x``,
    ``--requirepass x``, ``--db-pass=x``, ``PGPASSWORD=x``, MySQL's ``-px``,
    ``scheme://user:x@host``, ``user/x@service`` (sqlplus, disql), ``-u user:x`` (curl),
    ``redis-cli -a x`` and ``sshpass -p x``. Facts are written to the estate; passwords
    must never be."""
    args = _URL_CRED.sub(r"\g<pre>***", args)
    args = _CONNECT.sub(r"\g<pre>***", args)
    args = _USER_COLON.sub(r"\g<pre>***", args)
    words = args.split(" ")
    for i, word in enumerate(words[:-1]):
        flag = _FLAG_BY_PROGRAM.get(word.rsplit("/", 1)[-1])
        if flag:
            for j in range(i + 1, len(words) - 1):
                if words[j] == flag:
                    words[j + 1] = "***"
    args = " ".join(words)
    args = _SECRET_OPT.sub(lambda m: f"{m['k']}{m['sep']}***", args)
    return _MYSQL_P.sub("-p***", args)


_BIN_NAMES = ("postgres", "postmaster", "mysqld", "mariadbd", "oracle", "dmserver", "kingbase")
_BIN_GLOBS = (
    "/usr/lib/postgresql/*/bin/postgres", "/usr/pgsql-*/bin/postgres", "/usr/sbin/mysqld",
    "/usr/sbin/mariadbd", "/usr/libexec/mysqld", "/opt/dmdbms/bin/dmserver",
    "/home/dmdba/dmdbms/bin/dmserver", "/opt/Kingbase/ES/V*/Server/bin/kingbase",
    "/home/kingbase/*/Server/bin/kingbase", "/u01/app/oracle/product/*/*/bin/oracle",
    "/opt/oracle/product/*/*/bin/oracle",
)


class DatabaseBinaries(Fact):
    """Database engine binaries installed (on ``PATH`` or in their usual places).

    Sample output::

        /usr/lib/postgresql/15/bin/postgres
        /usr/sbin/mariadbd

    Result: the sorted, de-duplicated list of paths.
    """

    name = "db_binaries"

    @classmethod
    def command(cls) -> str:
        names = " ".join(_BIN_NAMES)
        globs = " ".join(_BIN_GLOBS)
        return (f"for b in {names}; do command -v $b; done; "
                f"for p in {globs}; do [ -x \"$p\" ] && echo \"$p\"; done; true")

    @classmethod
    def process(cls, lines: list[str]) -> list[str]:
        return sorted({ln.strip() for ln in lines if ln.strip().startswith("/")})


_PROC_ENGINE = {"postgres": "postgresql", "postmaster": "postgresql", "mysqld": "mysql",
                "mariadbd": "mariadb", "dmserver": "dm", "kingbase": "kingbase",
                "tnslsnr": "oracle", "oracle": "oracle"}
_PORT_ENGINE = {5432: "postgresql", 3306: "mysql", 1521: "oracle", 5236: "dm",
                54321: "kingbase", 1433: "sqlserver"}
_VERSION = (re.compile(r"/postgresql/(\d+(?:\.\d+)?)/"), re.compile(r"/pgsql-(\d+(?:\.\d+)?)/"),
            re.compile(r"/Kingbase/ES/(V\d+)/"), re.compile(r"/product/(\d+[\d.]*)/"))


def _engine_of_process(comm: str, args: str) -> str:
    if comm.startswith("ora_pmon_"):
        return "oracle"
    base = comm.split("/")[-1].split(":")[0]
    engine = _PROC_ENGINE.get(base, "")
    if engine == "mysql" and "mariadb" in args.lower():
        return "mariadb"
    return engine


def _engine_of_binary(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    if base == "mysqld" and "mariadb" in path.lower():
        return "mariadb"
    return _PROC_ENGINE.get(base, "")


def detect_databases(processes: list[dict[str, Any]], tcp: list[dict[str, Any]],
                     binaries: list[str]) -> list[dict[str, Any]]:
    """Database engines present on a host, from processes, listening ports and binaries.

    Returns one dict per engine: ``engine`` (a ``databases.engine`` value), ``running``,
    ``ports`` (listening), ``version`` (from an install path, when it tells) and
    ``evidence`` (``process``/``port``/``binary``).
    """
    found: dict[str, dict[str, Any]] = {}

    def entry(engine: str) -> dict[str, Any]:
        return found.setdefault(engine, {"engine": engine, "running": False, "ports": [],
                                         "version": "", "evidence": []})

    has_mariadb_bin = any(b.endswith("mariadbd") for b in binaries)
    pid_engine: dict[int, str] = {}
    for p in processes:
        engine = _engine_of_process(str(p.get("comm", "")), str(p.get("args", "")))
        if engine == "mysql" and has_mariadb_bin:
            engine = "mariadb"
        if engine:
            pid_engine[int(p.get("pid", 0))] = engine
            e = entry(engine)
            e["running"] = True
            _add(e["evidence"], "process")
            _version_from(e, str(p.get("args", "")))
    for c in tcp:
        if c["state"] != "listen":
            continue
        proc_engine = _engine_of_process(str(c.get("process", "")), "")
        if proc_engine == "mysql" and has_mariadb_bin:
            proc_engine = "mariadb"
        engine = pid_engine.get(int(c.get("pid", 0) or 0)) or proc_engine or \
            _PORT_ENGINE.get(int(c["local_port"]), "")
        if engine:
            e = entry(engine)
            e["running"] = True
            if c["local_port"] not in e["ports"]:
                e["ports"].append(c["local_port"])
            _add(e["evidence"], "port")
    for path in binaries:
        engine = _engine_of_binary(path)
        if engine == "mysql" and has_mariadb_bin:
            engine = "mariadb"
        if engine:
            e = entry(engine)
            _add(e["evidence"], "binary")
            _version_from(e, path)
    for e in found.values():
        e["ports"].sort()
    return sorted(found.values(), key=lambda e: e["engine"])


def _add(items: list[str], value: str) -> None:
    if value not in items:
        items.append(value)


def _version_from(entry: dict[str, Any], text: str) -> None:
    if entry["version"]:
        return
    for rx in _VERSION:
        m = rx.search(text)
        if m:
            entry["version"] = m.group(1)
            return


__all__ = ["DatabaseBinaries", "Processes", "Services", "detect_databases", "to_int"]
