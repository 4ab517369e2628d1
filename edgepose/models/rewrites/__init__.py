"""Model rewrites: the structural steps passes make, as plain records, and their replay on load.

Passes (edgepose.passes) decide *what* to change and record it; this layer, below them, knows how to
apply each recorded step to a freshly built architecture (the pruning plan, the Ghost swaps, the subpixel
deconvs, YOLO's C2f split) and holds the module surgery several passes share. `edgepose.loading`
depends on it and on the zoo alone, never on the passes.
"""

from edgepose.models.rewrites import ghost_swaps as _ghost_swaps  # noqa: F401  (registers "ghost")
from edgepose.models.rewrites import prune_plan as _prune_plan  # noqa: F401  (registers "prune")
from edgepose.models.rewrites import subpixel as _subpixel  # noqa: F401  (registers "subpixel")
from edgepose.models.rewrites import yolo_split as _yolo_split  # noqa: F401  (registers "yolo-split-c2f")
from edgepose.models.rewrites.replay import REPLAYS, register_replay, replay_history

__all__ = ["REPLAYS", "register_replay", "replay_history"]
