"""Generation in a separate process: modes ``sync``, ``off_policy_k`` and ``pipeline_k``.

- :mod:`.messages`: the typed messages that cross the process boundary;
- :mod:`.generator`: the generator process (engine, inbox, bounded output queue);
- :mod:`.client`: the trainer's handle on it (start, send, receive, clean shutdown);
- :mod:`.orchestrator`: per mode, what to submit, when to push weights, the lag bound;
- :mod:`.run`: the step loop that ties them to the trainer's shared step code.
- :mod:`.ray_fleet`: the same generator loop in ``fleet.num_generators`` Ray actors, and the
  dispatcher that drives them as one client.

Weight files (one per pushed version) are written by :class:`rlscaling.trainer.weights.WeightStore`,
the module the rollout engines read them with.
"""

from rlscaling.trainer.pipeline.client import GeneratorClient, GeneratorError
from rlscaling.trainer.pipeline.run import train_pipeline

__all__ = ["GeneratorClient", "GeneratorError", "train_pipeline"]
