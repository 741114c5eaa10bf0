"""Utilisation sampled over a short interval: CPU from ``/proc/stat``, memory from
``/proc/meminfo``, both read twice in the same script.

In the gather script the interval overlaps the other facts: :meth:`Utilisation.start_command`
takes the first sample and starts the interval's ``sleep`` in the background at the top of
the script, :meth:`Utilisation.finish_command` waits for it and takes the second sample at
the end. Both samples are read with shell built-ins (no process per sample)."""

from __future__ import annotations

from typing import Any

from shangyun.facts.base import Fact, shell_lines_starting
from shangyun.facts.hardware import meminfo

SAMPLE_SECONDS = 1.0
_MEM_KEYS = ("MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached")


class Utilisation(Fact):
    """CPU and memory utilisation over ``SAMPLE_SECONDS`` (two samples, ``#sample`` between).

    Sample output::

        cpu  4705 150 1120 16250 520 0 25 0 0 0
        MemTotal:        8009496 kB
        MemAvailable:    5112520 kB
        #sample
        cpu  4790 150 1140 16420 520 0 25 0 0 0
        MemTotal:        8009496 kB
        MemAvailable:    5110000 kB

    Result: ``{"cpu_pct": 36.2, "mem_pct": 36.2, "interval_s": 1.0}``. CPU is busy jiffies
    over all jiffies between the samples (idle and iowait count as not busy); memory is the
    mean of both samples of ``1 - available/total``.
    """

    name = "utilisation"
    seconds: float = SAMPLE_SECONDS

    @classmethod
    def sample_command(cls) -> str:
        """One sample: the ``cpu`` line of ``/proc/stat`` and the memory lines, printed by
        shell built-ins only (the same lines ``head -n 1`` and ``grep`` would print)."""
        return ("IFS= read -r _l < /proc/stat; printf '%s\\n' \"$_l\"; "
                + shell_lines_starting("/proc/meminfo", _MEM_KEYS))

    @classmethod
    def command(cls) -> str:
        read = cls.sample_command()
        return f"{read}; echo '#sample'; sleep {cls.seconds:g}; {read}"

    @classmethod
    def start_command(cls, seconds: float) -> str:
        """Top of the gather script: the first sample into ``$_sy_u1`` and the interval's
        ``sleep`` started in the background (``$_sy_w``), so it runs beside the other facts."""
        return (f"_sy_u1=$({cls.sample_command()}); "
                f"sleep {seconds:g} </dev/null >/dev/null 2>&1 & _sy_w=$!")

    @classmethod
    def finish_command(cls) -> str:
        """The section itself, at the end: the first sample, ``#sample``, then the second one
        once the interval has passed (the same output as :meth:`command`)."""
        return (f"printf '%s\\n' \"$_sy_u1\"; echo '#sample'; wait $_sy_w; "
                f"{cls.sample_command()}")

    @classmethod
    def process(cls, lines: list[str]) -> dict[str, Any]:
        if "#sample" not in lines:
            return {"cpu_pct": None, "mem_pct": None, "interval_s": cls.seconds}
        i = lines.index("#sample")
        a, b = lines[:i], lines[i + 1:]
        cpu_a, cpu_b = _cpu(a), _cpu(b)
        cpu_pct = None
        if cpu_a and cpu_b:
            total = sum(cpu_b) - sum(cpu_a)
            idle = (cpu_b[3] + cpu_b[4]) - (cpu_a[3] + cpu_a[4])
            cpu_pct = round(100.0 * (total - idle) / total, 1) if total > 0 else 0.0
        mems = [m for m in (_mem(a), _mem(b)) if m is not None]
        mem_pct = round(sum(mems) / len(mems), 1) if mems else None
        return {"cpu_pct": cpu_pct, "mem_pct": mem_pct, "interval_s": cls.seconds}


def _cpu(lines: list[str]) -> list[int] | None:
    for line in lines:
        parts = line.split()
        if parts and parts[0] == "cpu":
            values = [int(x) for x in parts[1:9] if x.isdigit()]
            while len(values) < 5:
                values.append(0)
            return values
    return None


def _mem(lines: list[str]) -> float | None:
    kv = meminfo(lines)
    total = kv.get("MemTotal", 0)
    if total <= 0:
        return None
    avail = kv.get("MemAvailable",
                   kv.get("MemFree", 0) + kv.get("Buffers", 0) + kv.get("Cached", 0))
    return max(0.0, min(100.0, 100.0 * (1 - avail / total)))
