"""Mesa agents that are views onto the model's arrays.

A :class:`Citizen` holds only its index. Every attribute reads (and, for
attitude, trust, awareness, access and skill, writes) the model's arrays, so
``model.agents``, ``AgentSet.select`` / ``get`` / ``groupby`` and
``mesa.DataCollector`` agent reporters see the same state the vectorised step
updates. Readiness and intention are derived from attitude and trust through
the structural equations whenever they are read.
"""

from __future__ import annotations

from collections.abc import Sequence

import mesa

from egov_abm.model.population import AGE_BANDS, EDUCATION_LEVELS

STATE_NAMES = ("unaware", "aware", "adopter", "lapsed")


def _array_property(name: str, cast, writable: bool = False, doc: str = ""):
    def getter(self):
        return cast(getattr(self.model, name)[self.index])

    def setter(self, value):
        getattr(self.model, name)[self.index] = value

    return property(getter, setter if writable else None, doc=doc)


class Citizen(mesa.Agent):
    """One adult citizen: a view onto row ``index`` of the model's state arrays."""

    def __init__(self, model, index: int) -> None:
        super().__init__(model)
        self.index = index

    attitude = _array_property("attitude", float, writable=True,
                               doc="personal attitude to the portal (latent SD units)")
    trust = _array_property("trust", float, writable=True, doc="trust in e-government (latent SD units)")

    @property
    def readiness(self) -> float:
        """E-government readiness, through the structural equations (derived, read-only)."""
        m = self.model
        return float(m.sem.readiness(m.attitude[self.index], m.trust[self.index], m.zeta_r[self.index]))

    @property
    def intention(self) -> float:
        """Intention to use the portal, through the structural equations (derived, read-only)."""
        m, i = self.model, self.index
        return float(m.sem.intention(self.readiness, m.attitude[i], m.trust[i], m.zeta_i[i]))
    aware = _array_property("aware", bool, writable=True, doc="knows the portal exists")
    access = _array_property("access", bool, writable=True, doc="has internet access")
    skill = _array_property("skill", bool, writable=True, doc="has basic digital skill")
    user = _array_property("user", bool, doc="currently uses the portal")
    ever_user = _array_property("ever_user", bool, doc="has used the portal at some point")
    urban = property(lambda self: bool(self.model.pop.urban[self.index]), doc="lives in an urban settlement")
    female = property(lambda self: bool(self.model.pop.female[self.index]), doc="is a woman")

    @property
    def region(self) -> str:
        """Region or city of republican significance."""
        return self.model.region_names[self.model.pop.region[self.index]]

    @property
    def age_band(self) -> str:
        """Age band, one of ``AGE_BANDS``."""
        return AGE_BANDS[self.model.pop.age_band[self.index]]

    @property
    def education(self) -> str:
        """Education level, one of ``EDUCATION_LEVELS``."""
        return EDUCATION_LEVELS[self.model.pop.education[self.index]]

    @property
    def state(self) -> str:
        """'unaware', 'aware', 'adopter' or 'lapsed'."""
        if self.model.user[self.index]:
            return STATE_NAMES[2]
        if self.model.ever_user[self.index]:
            return STATE_NAMES[3]
        return STATE_NAMES[1] if self.model.aware[self.index] else STATE_NAMES[0]

    def neighbours(self) -> list[Citizen]:
        """The citizen's social contacts as Citizen views (in index order)."""
        agents = self.model.citizens
        return [agents[j] for j in self.model.adjacency.neighbours(self.index)]


class CitizenViews(Sequence):
    """``model.citizens``: the Citizen view of each index, created on first access.

    A run of 20 million citizens creates no Python object per citizen unless
    one is asked for; ``create_all`` makes every view at once (so that
    ``model.agents`` and Mesa's DataCollector see all citizens).
    """

    def __init__(self, model) -> None:
        self._model = model
        self._views: dict[int, Citizen] = {}

    def __len__(self) -> int:
        return self._model.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"citizen index {i} out of range for {len(self)} citizens")
        view = self._views.get(i)
        if view is None:
            view = self._views[i] = Citizen(self._model, i)
        return view

    @property
    def created(self) -> int:
        """How many views exist so far."""
        return len(self._views)

    def create_all(self) -> None:
        """Create the view of every citizen not yet viewed, in index order."""
        for i in range(len(self)):
            if i not in self._views:
                self._views[i] = Citizen(self._model, i)
