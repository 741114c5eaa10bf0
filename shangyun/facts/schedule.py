"""Scheduled jobs: the hosts a host's cron jobs reach (a nightly ``pg_dump -h db``, an
``rsync`` to the file server), read from the crontabs with shell built-ins only.

A crontab line can hold a password (``mysqldump -pSecret``, ``PGPASSWORD=…``,
``user:pass@host`` in a URL): the parser keeps **only** where the line is (file, line
number), its schedule, the tool and the host and port it names — never the line itself,
never a user, password or path.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from typing import Any
from urllib.parse import urlsplit

from shangyun.facts.base import Fact

#: The crontabs read: the system ones (a user column after the schedule) and the users'
#: (Debian ``crontabs/``, RHEL ``cron/<user>``, SUSE ``tabs/``).
SYSTEM_CRONTABS = ("/etc/crontab", "/etc/cron.d/*")
USER_CRONTABS = ("/var/spool/cron/*", "/var/spool/cron/crontabs/*", "/var/spool/cron/tabs/*")
MAX_LINES = 2000  # per host: a crontab generated with thousands of lines is cut here

#: tool → (default port, host options, port options); ``-hX`` and ``--host=X`` forms too
_DB_TOOLS: dict[str, tuple[int, tuple[str, ...], tuple[str, ...]]] = {
    **{t: (5432, ("-h", "--host"), ("-p", "--port")) for t in (
        "pg_dump", "pg_dumpall", "pg_restore", "pg_basebackup", "psql", "pg_receivewal",
        "vacuumdb", "reindexdb", "clusterdb")},
    **{t: (3306, ("-h", "--host"), ("-P", "--port")) for t in (
        "mysqldump", "mysql", "mariadb-dump", "mariadb", "mysqlpump", "mydumper",
        "xtrabackup", "mysqlcheck")},
    "redis-cli": (6379, ("-h",), ("-p",)),
    **{t: (27017, ("-h", "--host"), ("--port",)) for t in ("mongodump", "mongo", "mongosh")},
    **{t: (54321, ("-h", "--host"), ("-p", "--port")) for t in ("sys_dump", "ksql")},
}
_SSH_TOOLS = {"scp": "-P", "sftp": "-P", "ssh": "-p", "rsync": ""}
_ORACLE_TOOLS = ("sqlplus", "expdp", "impdp", "exp", "imp", "rman", "disql", "dexp", "dimp")
_URL_TOOLS = ("curl", "wget", "lftp", "ftp")
_SCHEMES = {"http": 80, "https": 443, "ftp": 21, "ftps": 990, "sftp": 22, "rsync": 873,
            "postgresql": 5432, "postgres": 5432, "mysql": 3306, "redis": 6379,
            "mongodb": 27017, "jdbc": 0, "ldap": 389, "ldaps": 636, "smb": 445}
_SPECIAL = {"@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily",
            "@midnight", "@hourly"}
_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63})*")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_SEPARATORS = {"|", "||", "&&", ";", "&", "(", ")", "{", "}"}
_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_TOOL_DBPORT = {5432: "postgresql", 3306: "mysql"}


class ScheduledJobs(Fact):
    """Hosts named by cron jobs: ``/etc/crontab``, ``/etc/cron.d/*`` and the users'
    crontabs under ``/var/spool/cron``, read with ``read`` (no process; a login without
    root reads what it may, usually nothing). Comments and blank lines are not printed.

    Sample output::

        S /etc/cron.d/backup
        2 0 2 * * * postgres PGPASSWORD=x pg_dump -h db -p 5432 appdb > /b/app.sql
        U /var/spool/cron/crontabs/root
        1 */5 * * * * mysqldump -h 10.3.1.20 -pSecret shop | gzip > /b/shop.gz

    Result (one entry per host a line names; nothing else of the line is kept)::

        [{"file": "/etc/cron.d/backup", "line": 2, "schedule": "0 2 * * *",
          "tool": "pg_dump", "host": "db", "port": 5432},
         {"file": "/var/spool/cron/crontabs/root", "line": 1, "schedule": "*/5 * * * *",
          "tool": "mysqldump", "host": "10.3.1.20", "port": 3306}]
    """

    name = "cron"

    @classmethod
    def command(cls) -> str:
        def loop(kind: str, globs: tuple[str, ...]) -> str:
            return (f"for _f in {' '.join(globs)}; do [ -f \"$_f\" ] && [ -r \"$_f\" ] || "
                    f"continue; echo \"{kind} $_f\"; _n=0; while IFS= read -r _l || "
                    "[ -n \"$_l\" ]; do _n=$((_n+1)); case $_l in ''|'#'*) continue;; "
                    "esac; "
                    f"_c=$((_c+1)); [ $_c -gt {MAX_LINES} ] && break 2; "
                    "printf '%s %s\\n' \"$_n\" \"$_l\"; done < \"$_f\"; done")
        return f"_c=0; {loop('S', SYSTEM_CRONTABS)}; {loop('U', USER_CRONTABS)}"

    @classmethod
    def process(cls, lines: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        path, system = "", False
        for raw in lines:
            line = raw.rstrip("\r")
            if line[:2] in ("S ", "U ") and line[2:3] == "/":
                path, system = line[2:], line[0] == "S"
                continue
            number, _, text = line.partition(" ")
            if not path or not number.isdigit():
                continue
            job = split_job(text, system)
            if job is None:
                continue
            schedule, command = job
            seen: set[tuple[str, str, int]] = set()
            for tool, host, port in host_refs(command):
                if (tool, host, port) in seen:
                    continue
                seen.add((tool, host, port))
                out.append({"file": path, "line": int(number), "schedule": schedule,
                            "tool": tool, "host": host, "port": port})
        return out


def split_job(text: str, system: bool) -> tuple[str, str] | None:
    """``(schedule, command)`` of a crontab line (a system crontab's user column dropped);
    ``None`` for a comment, an environment setting or a line that is no job."""
    words = text.split()
    if not words or words[0].startswith("#") or (_ENV.match(words[0]) and len(words) == 1):
        return None
    if words[0] in _SPECIAL:
        n = 1
    elif len(words) >= 6 and all(re.fullmatch(r"[0-9A-Za-z*/,\-]+", w) for w in words[:5]):
        n = 5
    else:
        return None
    rest = words[n + (1 if system else 0):]
    return (" ".join(words[:n]), " ".join(rest)) if rest else None


def _words(command: str) -> list[str]:
    """The command's words (shell quoting undone where it can be; else split on blanks),
    with ``;``, ``|``, ``&&`` … as words of their own."""
    try:
        lex = shlex.shlex(command, posix=True, punctuation_chars=";&|()")
        lex.whitespace_split = True
        lex.commenters = ""
        return list(lex)
    except ValueError:
        return command.split()


def _valid_host(text: str) -> str:
    """``text`` when it is an IP address or a host name, else ``""``."""
    text = text.strip("[]")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    return text.lower() if _HOSTNAME.fullmatch(text) and not text.isdigit() else ""


def _port(text: str) -> int:
    return int(text) if text.isdigit() and 0 < int(text) < 65536 else 0


def _option(args: list[str], names: tuple[str, ...]) -> str:
    """The value of the first option of ``names`` in ``args`` (``-h X``, ``-hX``,
    ``--host=X``, ``--host X``)."""
    for i, a in enumerate(args):
        for n in names:
            if a == n and i + 1 < len(args):
                return args[i + 1]
            if n.startswith("--") and a.startswith(n + "="):
                return a[len(n) + 1:]
            if not n.startswith("--") and a.startswith(n) and len(a) > len(n):
                return a[len(n):]
    return ""


def _remote(arg: str) -> tuple[str, bool]:
    """The host of an scp/rsync ``[user@]host:path`` (``True``: rsync daemon ``host::m``)."""
    if arg.startswith(("-", "/", ".", "~")) or ":" not in arg:
        return "", False
    head, _, tail = arg.partition(":")
    host = head.rpartition("@")[2]
    return _valid_host(host), tail.startswith(":")


def _url(arg: str, default: int = 0) -> tuple[str, int]:
    """``(host, port)`` of a URL-like ``scheme://[user[:pass]@]host[:port]/…``."""
    if "://" not in arg:
        return "", 0
    arg = arg.removeprefix("jdbc:")
    try:
        parts = urlsplit(arg)
        port = parts.port
    except ValueError:
        return "", 0
    host = _valid_host(parts.hostname or "")
    return host, port or _SCHEMES.get(parts.scheme.lower(), default)


def _oracle(arg: str) -> tuple[str, int]:
    """``(host, port)`` of ``user/x@//host:port/svc`` or ``@host:port/svc`` (EZConnect)."""
    if "@" not in arg:
        return "", 0
    target = arg.rpartition("@")[2].removeprefix("//")
    host, _, rest = target.partition(":")
    port = _port(rest.split("/")[0]) if rest else 0
    if not rest and "/" not in host:
        return "", 0  # a TNS alias: no host to read
    return _valid_host(host.split("/")[0]), port or 1521


def host_refs(command: str) -> list[tuple[str, str, int]]:
    """``(tool, host, port)`` for each host a cron command names: through the options of
    known tools (database clients and dumpers, rsync/scp/ssh, curl/wget, Oracle and 达梦
    EZConnect strings), URLs, and any IPv4 address elsewhere (tool = the command, port 0)."""
    words = _words(command)
    refs: list[tuple[str, str, int]] = []
    taken: set[str] = set()
    segments: list[list[str]] = [[]]
    for w in words:
        if w in _SEPARATORS or w.strip(";&|") == "":
            segments.append([])
        else:
            segments[-1].append(w)
    first_tool = ""
    for seg in segments:
        seg = [w for w in seg if not w.startswith((">", "<", "2>", "1>"))]
        while seg and _ENV.match(seg[0]):
            seg = seg[1:]
        if not seg:
            continue
        tools = [i for i, w in enumerate(seg) if w.rsplit("/", 1)[-1] in (
            *_DB_TOOLS, *_SSH_TOOLS, *_ORACLE_TOOLS, *_URL_TOOLS)]
        first_tool = first_tool or seg[0].rsplit("/", 1)[-1]
        for i in tools:
            tool, args = seg[i].rsplit("/", 1)[-1], seg[i + 1:]
            found: list[tuple[str, int]] = []
            if tool in _DB_TOOLS:
                port, hopts, popts = _DB_TOOLS[tool]
                host = _valid_host(_option(args, hopts))
                found += [(host, _port(_option(args, popts)) or port)] if host else []
            elif tool in _SSH_TOOLS:
                popt = _SSH_TOOLS[tool]
                port = _port(_option(args, (popt,))) if popt else 0
                for a in args:
                    host, daemon = _remote(a)
                    if host:
                        found.append((host, 873 if daemon else port or 22))
                if tool == "ssh":
                    rest = [a for j, a in enumerate(args) if not a.startswith("-") and not
                            (j and args[j - 1] in ("-p", "-i", "-l", "-o", "-F", "-J"))]
                    host = _valid_host(rest[0].rpartition("@")[2]) if rest else ""
                    found += [(host, port or 22)] if host else []
            elif tool in _ORACLE_TOOLS:
                for a in args:
                    host, port = _oracle(a)
                    found += [(host, port)] if host else []
            for a in args:
                host, port = _url(a)
                found += [(host, port)] if host else []
            for host, port in found:
                refs.append((tool, host, port))
                taken.add(host)
        for a in seg:
            host, port = _url(a)
            if host and host not in taken:
                refs.append((seg[0].rsplit("/", 1)[-1], host, port))
                taken.add(host)
    for ip in _IPV4.findall(command):
        if _valid_host(ip) and ip not in taken:
            refs.append((first_tool, ip, 0))
            taken.add(ip)
    return refs


#: Where systemd keeps unit files, highest precedence first (a unit in ``/etc`` hides the
#: vendor's of the same name; one linked to ``/dev/null`` there is masked). Transient
#: timers (``systemd-run --on-calendar``) live in ``/run/systemd/transient``: running.
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/transient", "/run/systemd/system",
             "/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
MAX_TIMER_LINES = 2000
_TIMER_KEYS = ("OnCalendar", "OnBootSec", "OnStartupSec", "OnActiveSec", "OnUnitActiveSec",
               "OnUnitInactiveSec", "Unit")
_EXEC_KEYS = ("ExecStart", "ExecStartPre", "ExecStartPost")


class Timers(Fact):
    """systemd timers — scheduled jobs outside the crontabs — read from the unit files
    with shell built-ins (no ``systemctl``: it needs a running systemd, and a container
    or a chroot has none): each ``*.timer`` of the unit directories (the first of a name
    wins; a masked one is skipped), whether it is enabled (a ``*.wants/`` entry, or
    transient), its ``On…=`` schedule and ``Unit=``, and the ``Exec…=`` lines of the
    service it starts. 2000 lines at most.

    Like a crontab line, an ``ExecStart=`` can hold a password: only the tool, host and
    port it names are kept (``shangyun.facts.schedule.host_refs``), never the line.

    Sample output::

        T /etc/systemd/system/backup.timer enabled
        4 OnCalendar=*-*-* 02:30:00
        X /etc/systemd/system/backup.service
        6 ExecStart=/usr/bin/pg_dump -h db -U app -f /b/app.sql appdb

    Result: one entry per timer::

        [{"unit": "backup.timer", "file": "/etc/systemd/system/backup.timer",
          "enabled": true, "schedule": "OnCalendar=*-*-* 02:30:00",
          "service": "backup.service", "service_file": "/etc/systemd/system/backup.service",
          "hosts": [{"tool": "pg_dump", "host": "db", "port": 5432, "line": 6}]}]
    """

    name = "timers"

    @classmethod
    def command(cls) -> str:
        dirs = " ".join(UNIT_DIRS)
        timer_keys = "|".join(f"{k}=*" for k in _TIMER_KEYS)
        exec_keys = "|".join(f"{k}=*" for k in _EXEC_KEYS)
        wants = " ".join(f"{d}/*.wants/*.timer" for d in UNIT_DIRS)
        services = " ".join(f"{d}/$_u" for d in UNIT_DIRS)

        def lines(path: str, pattern: str, also: str = "") -> str:
            return ("_n=0; while IFS= read -r _l || [ -n \"$_l\" ]; do _n=$((_n+1)); "
                    f"case $_l in {pattern}) {also}_c=$((_c+1)); [ $_c -gt "
                    f"{MAX_TIMER_LINES} ] && break 3; printf '%s %s\\n' \"$_n\" \"$_l\";; "
                    f"esac; done < \"{path}\"")
        # the enabled timers (their *.wants/ entries) globbed once, not once per timer
        return (
            f"_c=0; _seen=' '; _on=' '; for _w in {wants}; do _on=\"$_on${{_w##*/}} \"; "
            f"done; for _d in {dirs}; do for _f in \"$_d\"/*.timer; do "
            "_t=${_f##*/}; case $_seen in *\" $_t \"*) continue;; esac; "
            "_seen=\"$_seen$_t \"; [ -f \"$_f\" ] && [ -r \"$_f\" ] || continue; _e=disabled; "
            "case $_d in */transient) _e=enabled;; esac; "
            "case $_on in *\" $_t \"*) _e=enabled;; esac; echo \"T $_f $_e\"; "
            "_u=${_t%.timer}.service; "
            f"{lines('$_f', timer_keys, 'case $_l in Unit=*) _u=${_l#Unit=};; esac; ')}; "
            f"for _s in {services}; do "
            "[ -f \"$_s\" ] && [ -r \"$_s\" ] || continue; echo \"X $_s\"; "
            f"{lines('$_s', exec_keys)}; break; done; done; done")

    @classmethod
    def process(cls, lines: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        timer: dict[str, Any] | None = None
        schedule: list[str] = []
        in_service = False
        for raw in lines:
            line = raw.rstrip("\r")
            if line.startswith("T /"):
                path, _, state = line[2:].rpartition(" ")
                name = path.rsplit("/", 1)[-1]
                schedule = []
                timer = {"unit": name, "file": path, "enabled": state == "enabled",
                         "schedule": "", "service": name.removesuffix(".timer") + ".service",
                         "service_file": "", "hosts": []}
                out.append(timer)
                in_service = False
                continue
            if timer is None:
                continue
            if line.startswith("X /"):
                timer["service_file"] = line[2:]
                in_service = True
                continue
            number, _, text = line.partition(" ")
            if not number.isdigit():
                continue
            key, _, value = text.partition("=")
            key, value = key.strip(), value.strip()
            if not in_service:
                if key == "Unit":
                    timer["service"] = value
                elif key in _TIMER_KEYS and value:
                    schedule.append(f"{key}={value}")
                    timer["schedule"] = "; ".join(schedule)
                continue
            command = value.lstrip("-@+!:")
            seen = {(h["tool"], h["host"], h["port"]) for h in timer["hosts"]}
            refs = host_refs(command)
            for word in _words(command):  # sh -c '… pg_dump -h db …'
                if " " in word:
                    refs += host_refs(word)
            for tool, host, port in refs:
                if (tool, host, port) not in seen:
                    seen.add((tool, host, port))
                    timer["hosts"].append({"tool": tool, "host": host, "port": port,
                                           "line": int(number)})
        return out
