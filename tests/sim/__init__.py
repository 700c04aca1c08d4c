"""Tests of the simulation engine (queuesim.sim) at its own level: exact traces, registry, statistics, faults."""
