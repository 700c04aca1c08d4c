"""The simulation layer: the only package that imports SimPy.

``simulate(scenario, replication)`` wires a validated :class:`~queuesim.scenario.Scenario` into live
components (producers, brokers, worker pools) on one SimPy environment, runs it to ``duration`` and
returns the columnar event records.
"""

from queuesim.records import Delivery, Outcome, RunRecord
from queuesim.sim.build import simulate

__all__ = ["simulate", "RunRecord", "Outcome", "Delivery"]
