import pytest

from egov_abm.calibration.defaults import load_sem, population_spec


@pytest.fixture(scope="session")
def sem():
    return load_sem()


@pytest.fixture(scope="session")
def spec():
    return population_spec()


def _listening(pid: int) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every TCP socket in LISTEN state owned by ``pid`` or any of its descendants."""
    import psutil

    root = psutil.Process(pid)
    found = []
    for proc in [root, *root.children(recursive=True)]:
        try:
            connections = proc.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        found += [(proc.pid, c.laddr.ip, c.laddr.port) for c in connections if c.status == psutil.CONN_LISTEN]
    return found


@pytest.fixture
def listening():
    """``listening(pid)``: the LISTEN sockets of a process tree, read from the socket table (psutil)."""
    return _listening
