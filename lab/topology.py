"""What a lab contains, decided before anything is started (pure, deterministic).

For ``bureaus`` bureaus the lab has, per bureau, an app server (``bNN-app01``), a database
host (``bNN-db01``: PostgreSQL in odd bureaus, MariaDB in even ones) and a file server
(``bNN-fs01``); bureau 1 also hosts the shared authentication service (``b01-auth01``) that
every app server keeps a connection to. ``hosts`` (a total) adds light web hosts
(``bNN-webNN``), spread round-robin over the bureaus, each holding a connection to its
bureau's app server. Addresses are ``10.<net>.<bureau>.<10+n>`` on the lab's own bridge.
"""

from __future__ import annotations

from lab.oses import OSES, ROTATION
from lab.state import LabDatabase, LabDependency, LabError, LabHost, LabService

CITIES = (
    "福州", "厦门", "泉州", "漳州", "莆田", "南平", "三明", "龙岩", "宁德", "广州", "深圳",
    "珠海", "汕头", "佛山", "韶关", "湛江", "肇庆", "江门", "茂名", "惠州", "梅州", "汕尾",
    "河源", "阳江", "清远", "东莞", "中山", "潮州", "揭阳", "云浮", "南宁", "柳州", "桂林",
    "梧州", "北海",
)
SSH_PORT = 22
LOOPBACK_SSH_PORT = 2222
HTTP_PORT = 8080
AUTH_PORT = 8443
NFS_PORT = 2049
PG_PORT = 5432
MARIADB_PORT = 3306
MAX_PER_BUREAU = 240


def bureau_id(b: int) -> str:
    """The id of bureau number ``b`` (1-based): ``B01``."""
    return f"B{b:02d}"


def plan_bureaus(bureaus: int) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The bureau and system records of a lab with ``bureaus`` bureaus."""
    bl = [{"id": bureau_id(b), "name": f"{CITIES[(b - 1) % len(CITIES)]}局"
           + ("" if b <= len(CITIES) else str(b))} for b in range(1, bureaus + 1)]
    sl = [{"id": "SYS-AUTH", "name": "统一身份认证平台", "bureau_id": "B01",
           "kind": "shared-service"}]
    sl += [{"id": f"SYS-{b['id']}-BIZ", "name": f"{b['name']}业务办理系统",
            "bureau_id": b["id"], "kind": "business"} for b in bl]
    return bl, sl


def plan_hosts(bureaus: int, hosts: int | None, *, tag: str, net: int,
               loopback: bool = False) -> list[LabHost]:
    """Every lab host with its address, role, OS look, services and expected connections.

    With ``loopback`` (the unprivileged fallback) hosts get ``127.<net>.<bureau>.<n>``
    addresses on the machine's loopback, sshd on port 2222 and no network namespace.
    """
    if bureaus < 1:
        raise LabError(f"--bureaus must be at least 1, got {bureaus}")
    full = 3 * bureaus + 1
    total = full if hosts is None else hosts
    if total < full:
        raise LabError(f"--hosts {total} is fewer than the {full} hosts that {bureaus} "
                       f"bureau(s) need for their full roles; use --hosts {full} or more")
    extra = total - full
    per_bureau = [3 + (1 if b == 1 else 0) + extra // bureaus + (1 if b <= extra % bureaus
                                                                  else 0)
                  for b in range(1, bureaus + 1)]
    if max(per_bureau) > MAX_PER_BUREAU:
        raise LabError(f"{total} hosts over {bureaus} bureau(s) is more than {MAX_PER_BUREAU} "
                       "per bureau; add bureaus")
    out: list[LabHost] = []
    counters = dict.fromkeys(range(1, bureaus + 1), 10)

    def new(b: int, name: str, role: str, system: str) -> LabHost:
        os_key = ROTATION[len(out) % len(ROTATION)]
        ip = f"{127 if loopback else 10}.{net}.{b}.{counters[b]}"
        ssh_port = LOOPBACK_SSH_PORT if loopback else SSH_PORT
        counters[b] += 1
        h = LabHost(id=name, hostname=name, ip=ip, port=ssh_port, bureau=bureau_id(b),
                    system=system, role=role, netns="" if loopback else f"sy{tag}-{name}",
                    os="debian12" if loopback else os_key,
                    os_pretty=OSES["debian12" if loopback else os_key].pretty,
                    services=[LabService("ssh", ssh_port, "sshd")],
                    cpu_cores=(2, 4, 8)[len(out) % 3], memory_gb=(4.0, 8.0, 16.0)[len(out) % 3])
        out.append(h)
        return h

    auth = new(1, "b01-auth01", "auth", "SYS-AUTH")
    auth.services.append(LabService("auth", AUTH_PORT, "authd"))
    apps: dict[int, LabHost] = {}
    for b in range(1, bureaus + 1):
        bz = f"b{b:02d}"
        system = f"SYS-{bureau_id(b)}-BIZ"
        app = new(b, f"{bz}-app01", "app", system)
        db = new(b, f"{bz}-db01", "db", system)
        fs = new(b, f"{bz}-fs01", "fs", system)
        app.services.append(LabService("http", HTTP_PORT, "java"))
        if b % 2:
            db.services.append(LabService("postgresql", PG_PORT, "postgres"))
            db.database = LabDatabase("postgresql", "15", PG_PORT, "appdb", "shangyun")
            app.dependencies.append(LabDependency(db.id, db.ip, PG_PORT, "postgresql", "psql"))
        else:
            db.services.append(LabService("mysql", MARIADB_PORT, "mariadbd"))
            db.database = LabDatabase("mariadb", "10.11", MARIADB_PORT, "appdb", "shangyun")
            app.dependencies.append(LabDependency(db.id, db.ip, MARIADB_PORT, "mysql",
                                                  "mariadb"))
        fs.services.append(LabService("nfs", NFS_PORT, "nfsd"))
        fs.files = ["export/contracts/2019-合同.txt", "export/reports/annual-report.txt",
                    "export/scans/archive.bin"]
        app.dependencies.append(LabDependency(auth.id, auth.ip, AUTH_PORT, "auth", "java"))
        app.dependencies.append(LabDependency(fs.id, fs.ip, NFS_PORT, "nfs", "java"))
        apps[b] = app
    for i in range(extra):
        b = i % bureaus + 1
        web = new(b, f"b{b:02d}-web{i // bureaus + 1:02d}", "light", f"SYS-{bureau_id(b)}-BIZ")
        web.services.append(LabService("http", HTTP_PORT, "nginx"))
        app = apps[b]
        web.dependencies.append(LabDependency(app.id, app.ip, HTTP_PORT, "http", "nginx"))
    return out
