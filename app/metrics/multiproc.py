"""prometheus_client's multiprocess mode for every topology on one host: the API's gunicorn
workers, the Celery worker and beat write their counters to files in one directory and `/metrics`
(in any gunicorn worker) adds them all up. Imports nothing from prometheus_client at module level:
the directory must be chosen before our metrics are created."""
from __future__ import annotations

import os
import re
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
_FILE = re.compile(r"^(?P<kind>[a-z_]+?)_(?P<pid>\d+)\.db$")


def prepare() -> Path:
    """Choose the directory (PROMETHEUS_MULTIPROC_DIR, else BRIDGX_HOME/metrics), create it, and
    drop the live-gauge files of processes that are gone. Counter files of dead processes stay:
    their counts are part of the totals (empty the directory when the whole stack restarts)."""
    path = Path(os.environ.get(ENV) or Path(os.environ.get("BRIDGX_HOME", "./instance")) / "metrics").resolve()
    path.mkdir(parents=True, exist_ok=True)
    os.environ[ENV] = str(path)
    import sys
    if "prometheus_client" in sys.modules:
        # Imported already (the `celery` command loads Flower's plugin, which imports it): the
        # value class is chosen at import, so choose again; our metrics are created after this.
        from prometheus_client import values
        values.ValueClass = values.get_value_class()
    for file in path.glob("*.db"):
        match = _FILE.match(file.name)
        if match and match["kind"].startswith("gauge_live") and not _alive(int(match["pid"])):
            file.unlink(missing_ok=True)
    return path


def mark_dead(pid: int) -> None:
    """A gunicorn worker exited: forget its live gauges (gunicorn's child_exit hook)."""
    if os.environ.get(ENV):
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
