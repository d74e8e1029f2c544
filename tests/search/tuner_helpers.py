"""A BridgeHyperband as the search makes it (its oracle from search/kt/oracle.py),
without MLflow or any other trial hook, for tests that draw or build."""

from search.core.config import SearchConfig
from search.kt.oracle import search_oracle
from search.kt.tuner import BridgeHyperband


def bare_tuner(hypermodel, directory, *, hooks=(), tuner_options=None, **config_options):
    """`config_options`: SearchConfig fields (max_epochs, factor, seed, ...)."""
    oracle, _ = search_oracle(SearchConfig(**config_options), hypermodel)
    return BridgeHyperband(oracle, hypermodel, directory=str(directory), project_name="p",
                           hooks=hooks, **(tuner_options or {}))
