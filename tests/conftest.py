import pytest

from egov_abm.calibration.defaults import load_sem, population_spec


@pytest.fixture(scope="session")
def sem():
    return load_sem()


@pytest.fixture(scope="session")
def spec():
    return population_spec()
