"""The Optuna sweeper of ``conf/hparams_search/``, ending a search whose every trial failed with one line.

hydra-optuna-sweeper asks Optuna for the best trial after the last one; when none completed, Optuna
raises ``ValueError: No trials are completed yet`` and Hydra prints its traceback. Each trial has
already written its own one-line ``failure.json``; this says so and exits 1.
"""

import sys

from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper


class OptunaSearch(OptunaSweeper):
    """``OptunaSweeper`` (same arguments) whose all-failed search is one error line and exit 1."""

    def sweep(self, arguments: list[str]) -> None:
        try:
            return super().sweep(arguments)
        except ValueError as e:
            if "No trials are completed" not in str(e):
                raise
            config = getattr(self.sweeper, "config", None)
            where = f" (see {config.hydra.sweep.dir}/<trial>/failure.json)" if config is not None else ""
            print(f"error: every trial of the search failed{where}", file=sys.stderr)
            sys.exit(1)
