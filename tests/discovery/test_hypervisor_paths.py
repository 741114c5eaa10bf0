"""Disk paths in hypervisor XML are outside input (docs/safety.md Q4): discovery reads a
local image's sizes only under the estate's datastore roots. A libvirt test-driver
hypervisor whose domain names a local secret (or a ``..`` path, or ``/dev``) as its disk
is refused with an error naming the domain and the path, and the secret is never read;
the CLI ``discover --hypervisor`` takes the roots from estate.yaml. Real libvirt test
driver and qemu-img; nothing mocked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from connectors import hypervisor as hv
from connectors.hypervisor import HypervisorError, list_domains
from shangyun.discovery.domains import to_estate_rows
from shangyun.estate import Estate
from tests.discovery.sshd import keygen

QEMU_IMG = "qemu-img"


def _node(path: Path, disks: dict[str, str]) -> str:
    """A test-driver node XML: one domain per (name, disk path)."""
    doms = "".join(
        f"<domain type='test'><name>{name}</name><memory>1048576</memory><vcpu>1</vcpu>"
        f"<os><type>hvm</type></os><devices><disk type='file' device='disk'>"
        f"<driver name='qemu' type='raw'/><source file='{disk}'/>"
        f"<target dev='vda' bus='virtio'/></disk></devices></domain>"
        for name, disk in disks.items())
    path.write_text(f"<node>{doms}</node>", encoding="utf-8")
    return hv.test_uri(path)


@pytest.fixture
def datastore(tmp_path: Path) -> Path:
    """A datastore folder with one 4 MiB raw image."""
    ds = tmp_path / "datastore"
    ds.mkdir()
    subprocess.run([QEMU_IMG, "create", "-f", "raw", str(ds / "good.raw"), "4M"], check=True,
                   capture_output=True)
    return ds


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """The orchestrator's private key, its atime at 0 (any read moves it)."""
    s = tmp_path / "root" / ".ssh" / "id_ed25519"
    s.parent.mkdir(parents=True)
    s.write_bytes(b"PRIVATE KEY".ljust(1 << 20, b"\0"))
    os.utime(s, (0, s.stat().st_mtime))
    return s


def test_a_disk_path_outside_the_roots_is_refused_and_nothing_is_read(
        tmp_path: Path, datastore: Path, secret: Path) -> None:
    good = _node(tmp_path / "good.xml", {"vm-good": str(datastore / "good.raw")})
    doms = list_domains(good, datastore_roots=[str(datastore)])
    assert doms[0].disks[0].capacity == 4 * 2**20  # read: it lies under the roots
    hostile = {str(secret): "outside the datastore roots",
               f"{datastore}/../root/.ssh/id_ed25519": "contains '..'",
               "/dev/../root/.ssh/id_ed25519": "contains '..'",
               "/dev/zero": "device or system file"}
    for n, (path, why) in enumerate(hostile.items()):
        uri = _node(tmp_path / f"hostile-{n}.xml", {"vm-good": str(datastore / "good.raw"),
                                                    "vm-evil": path})
        with pytest.raises(HypervisorError, match=why) as err:
            list_domains(uri, datastore_roots=[str(datastore)])
        assert "vm-evil" in str(err.value) and path in str(err.value)
        assert uri in str(err.value)
    assert secret.stat().st_atime == 0, "the secret was read"
    # no roots at all: no local image file is read (libvirt's own block info only)
    uri = _node(tmp_path / "no-roots.xml", {"vm-evil": str(secret)})
    assert [d.name for d in list_domains(uri)] == ["vm-evil"]
    assert secret.stat().st_atime == 0, "the secret was read"


def test_discover_cli_reads_images_only_under_the_estate_roots(
        tmp_path: Path, datastore: Path, secret: Path) -> None:
    """``shangyun discover --hypervisor`` with a hostile XML: refused, exit 1, the error
    names the domain; the estate and the secret untouched. With the path inside the
    estate's roots the domain's disk gets its real size."""
    root = tmp_path / "estate"
    Estate.from_records({"name": "xml", "datastore_roots": {"B01": [str(datastore)]}},
                        {"bureaus": [{"id": "B01", "name": "一局", "kind": "bureau"}]}
                        ).save(root)
    key = tmp_path / "id"
    keygen(key)  # no host to log in to: discovery only lists the hypervisor
    known = tmp_path / "known_hosts"
    known.write_text("")

    def discover(uri: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(Path(sys.executable).parent / "shangyun"), "discover", "--estate", str(root),
             "--key", str(key), "--known-hosts", str(known), "--hypervisor", f"B01={uri}"],
            capture_output=True, text=True, timeout=120, check=False)

    before = {p.name: p.read_bytes() for p in root.iterdir() if p.is_file()}
    evil = _node(tmp_path / "evil.xml", {"vm-evil": str(secret)})
    r = discover(evil)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "vm-evil" in r.stderr and "outside the datastore roots" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert {p.name: p.read_bytes() for p in root.iterdir() if p.is_file()
            and p.name != ".estate.lock"} == {k: v for k, v in before.items()
                                             if k != ".estate.lock"}
    assert secret.stat().st_atime == 0, "the secret was read"
    r = discover(_node(tmp_path / "good.xml", {"vm-good": str(datastore / "good.raw")}))
    assert r.returncode == 0, r.stdout + r.stderr
    # no host to log in to: the summary says so, and counts the domain it added
    assert "0 hosts over SSH in" in r.stdout and ": ." not in r.stdout, r.stdout
    assert "added 1" in r.stdout, r.stdout
    disks = Estate.load(root, check=False).rows("disks")
    assert [(d["path"], d["size_gb"]) for d in disks] == \
        [(str(datastore / "good.raw"), pytest.approx(4 / 1024, abs=1e-3))]


ODD = """<node><domain type='test'><name>web server 01</name><memory>1048576</memory>
<vcpu>1</vcpu><os><type>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{good}'/>
<target dev='vda' bus='virtio'/></disk>
<disk type='network' device='disk'><driver name='qemu' type='raw'/>
<source protocol='rbd' name='rbdpool/vm01-data'><host name='mon1' port='6789'/></source>
<target dev='vdb' bus='virtio'/></disk>
<disk type='network' device='disk'><driver name='qemu' type='raw'/>
<source protocol='iscsi' name='iqn.2013-07.com.example:san/1'><host name='san1'/></source>
<target dev='vdc' bus='virtio'/></disk>
<disk type='block' device='disk'><driver name='qemu' type='raw'/>
<source dev='/dev/mapper/mpatha'/><target dev='vdd' bus='virtio'/></disk>
<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='sda' bus='sata'/>
<readonly/></disk></devices></domain>
<domain type='test'><name>办公 系统</name><memory>1048576</memory><vcpu>1</vcpu>
<os><type>hvm</type></os><devices><disk type='file' device='disk'>
<driver name='qemu' type='raw'/><source file='{good}'/><target dev='vda' bus='virtio'/>
<shareable/></disk></devices></domain></node>"""


def test_network_and_block_disks_are_listed_not_read_and_do_not_fail_the_hypervisor(
        tmp_path: Path, datastore: Path) -> None:
    """A local hypervisor whose domain has Ceph RBD and iSCSI disks (no local file) and a
    multipath LUN (a block device): the listing goes on — those are sized by libvirt, named
    by where they are (``rbd://mon1:6789/rbdpool/vm01-data``), nothing local read for them
    — and the file disk under the roots is read. Before, the RBD image name was taken for
    a local path ('resolves to <cwd>/rbdpool/…, outside the datastore roots') and the
    whole hypervisor's listing failed."""
    node = tmp_path / "odd.xml"
    node.write_text(ODD.format(good=datastore / "good.raw"), encoding="utf-8")
    doms = {d.name: d for d in list_domains(hv.test_uri(node),
                                            datastore_roots=[str(datastore)])}
    assert set(doms) == {"web server 01", "办公 系统"}
    disks = {d.target: d for d in doms["web server 01"].disks}
    assert disks["vda"].capacity == 4 * 2**20            # the file under the roots: read
    assert (disks["vdb"].path, disks["vdc"].path, disks["vdd"].path) == (
        "rbd://mon1:6789/rbdpool/vm01-data", "iscsi://san1:3260/iqn.2013-07.com.example:san/1",
        "/dev/mapper/mpatha")
    for t in ("vdb", "vdc", "vdd"):                      # libvirt's sizes, nothing local
        assert disks[t].capacity and disks[t].capacity > 0, t
    assert (disks["sda"].device, disks["sda"].path) == ("cdrom", "")
    rows = to_estate_rows(doms.values(), bureau_id="B01", hypervisor="test")
    by_id = {d["id"]: d for d in rows["disks"]}
    assert by_id["web server 01:vdb"]["datastore"] == "rbd://mon1:6789/rbdpool"
    assert "web server 01:sda" not in by_id and "办公 系统:vda" in by_id
